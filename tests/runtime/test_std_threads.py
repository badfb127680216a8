"""`std::thread` runs unchanged, with std's semantics, on wbspawn's workers (every engine).

Every check runs through `std::thread` ("std") and through wbspawn's own API ("wbspawn"):
one runtime serves both. The questions are exports of the runtime lab (tests/apps/lab).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps import STD_THREADS_DIR
from conftest import OpenLab
from pages import assert_no_uncaught, call, calling, open_lab, wait_for_done
from wbspawn.build.pipeline import build
from wbspawn.build.toolchain import discover
from wbspawn.check.browser import Browser, Page
from wbspawn.config import Config
from wbspawn.serve.app import create_app
from wbspawn.serve.server import running

pytestmark = [pytest.mark.browser, pytest.mark.build]

APIS = ["std", "wbspawn"]


@pytest.fixture(scope="module")
def lab(engine: Browser, lab_url: str) -> Iterator[Page]:
    """One lab page for the module's questions that leave the app as it was."""
    page = engine.new_page()
    open_lab(page, lab_url)
    yield page
    assert_no_uncaught(page)
    page.close()


def test_the_build_has_std_threads(lab: Page) -> None:
    assert call(lab, "std_threads_enabled") is True


@pytest.mark.parametrize("api", APIS)
def test_spawn_and_join(lab: Page, api: str) -> None:
    assert call(lab, "spawn_join", api, 12) == [i * i for i in range(12)]


@pytest.mark.parametrize("api", APIS)
def test_names_and_ids_are_the_threads_own(lab: Page, api: str) -> None:
    # [the name std and wbspawn report, id matches the handle's, id differs from the caller's,
    #  wbspawn's id is std's]
    assert call(lab, "names_and_ids", api) == ["lab-thread|lab-thread", "true", "true", "true"]


@pytest.mark.parametrize("api", APIS)
def test_every_thread_has_a_unique_id_on_reused_workers(lab: Page, api: str) -> None:
    assert call(lab, "sequential_ids", api, 60) == 60


@pytest.mark.parametrize("api", APIS)
def test_is_finished(lab: Page, api: str) -> None:
    assert call(lab, "is_finished", api) == ["false", "true"]


def test_park_and_unpark(lab: Page) -> None:
    assert call(lab, "park_unpark") is True


def test_sleep_sleeps_and_yield_now_returns(lab: Page) -> None:
    assert call(lab, "sleep_ms", 50) >= 50


def test_available_parallelism_is_the_browsers(lab: Page) -> None:
    cores = lab.evaluate("navigator.hardwareConcurrency")
    assert call(lab, "parallelism") == [cores, cores]


@pytest.mark.parametrize("api", APIS)
def test_a_bigger_stack_on_request(lab: Page, api: str) -> None:
    # 7 MiB of an 8 MiB stack: far past the pool's 2 MiB, so only a bigger stack holds it.
    assert call(lab, "big_stack", api, 8) > 0


@pytest.mark.parametrize("api", APIS)
def test_thread_locals_are_fresh_in_every_thread(lab: Page, api: str) -> None:
    # Sequential threads land on the same reused workers; each must see the initial values.
    assert call(lab, "fresh_thread_locals", api, 20) == [1001] * 20


@pytest.mark.parametrize("api", APIS)
def test_thread_local_destructors_run_when_the_thread_ends(lab: Page, api: str) -> None:
    assert call(lab, "thread_local_drops", api, 25) == 25


@pytest.mark.parametrize("api", APIS)
def test_scoped_threads_borrow(lab: Page, api: str) -> None:
    assert call(lab, "scoped_sum", api, 10_000) == sum(range(10_000))


@pytest.mark.parametrize("api", APIS)
def test_a_panicking_scoped_thread_makes_the_scope_panic_after_all_ended(
    new_lab: OpenLab, api: str
) -> None:
    page = new_lab()
    message, slow_thread_finished = call(page, "scope_with_a_panicking_thread", api)
    assert "a scoped thread panicked" in message
    assert slow_thread_finished == "true"


def test_rayons_global_pool_uses_every_core(lab: Page) -> None:
    cores = lab.evaluate("navigator.hardwareConcurrency")
    assert call(lab, "rayon_global") == [str(cores), "true", "true", "42", "8"]


def test_crossbeam_scope(lab: Page) -> None:
    assert call(lab, "crossbeam_scope") == 10


@pytest.fixture(scope="module")
def std_threads_url() -> Iterator[str]:
    config = Config(app_dir=STD_THREADS_DIR)
    with running(create_app(config, build(config, discover()))) as url:
        yield url


def test_the_std_threads_example_passes(new_lab: OpenLab, std_threads_url: str) -> None:
    page = new_lab(url=std_threads_url)
    status, detail = wait_for_done(page)
    assert status == "pass", detail


def test_without_the_patch_std_threads_are_unsupported_and_wbspawn_still_works(
    new_lab: OpenLab, lab_config: Config
) -> None:
    config = Config(app_dir=lab_config.app_dir, std_threads=False)
    result = build(config, discover())
    assert result.std_threads.startswith("std threads: off (turned off")
    with running(create_app(config, result)) as url:
        page = new_lab(url=url)
        assert call(page, "std_threads_enabled") is False
        assert call(page, "spawn_join", "wbspawn", 4) == [0, 1, 4, 9]
        assert "operation not supported" in calling(page, "spawn_join", "std", 1)
