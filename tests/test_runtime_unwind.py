"""The runtime in an unwinding build (`--panic unwind`) in Chromium: a panicking thread unwinds
through wasm exception handling, releases (and poisons) its locks, hands its payload to `join`,
and its worker keeps serving spawns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from conftest import DEMO_DIR
from pages import PageErrors, call, open_lab, wait_for_done
from wbspawn.app import create_app
from wbspawn.build import build
from wbspawn.config import Config
from wbspawn.server import running
from wbspawn.toolchain import discover

pytestmark = [pytest.mark.browser, pytest.mark.build]


@pytest.fixture(scope="module")
def unwind_url() -> Iterator[str]:
    """The demo built with panic=unwind (its own target dir: std is rebuilt once)."""
    config = Config(app_dir=DEMO_DIR, panic="unwind")
    with running(create_app(config, build(config, discover()))) as url:
        yield url


def test_the_demo_passes_in_an_unwinding_build(
    fresh_page: tuple[Page, PageErrors], unwind_url: str
) -> None:
    tab, errors = fresh_page
    tab.goto(unwind_url)
    status, detail = wait_for_done(tab)
    assert status == "pass", detail
    assert call(tab, "panic_strategy") == "unwind"
    errors.assert_none()


def test_a_panicking_thread_releases_its_lock_poisoned_and_join_gets_the_payload(
    fresh_page: tuple[Page, PageErrors], unwind_url: str
) -> None:
    tab, errors = fresh_page
    open_lab(tab, unwind_url, "?prestart=2&idleTimeoutMs=60000")
    assert call(tab, "panic_aftermath") == ["payload 7", "payload 7", "poisoned"]
    errors.assert_none()


def test_the_worker_of_a_panicked_thread_is_reused(
    fresh_page: tuple[Page, PageErrors], unwind_url: str
) -> None:
    tab, errors = fresh_page
    open_lab(tab, unwind_url, "?prestart=2&idleTimeoutMs=60000")
    assert call(tab, "live_workers") == 2
    for _ in range(5):
        assert call(tab, "caught_panic") == "deliberate panic number 42"
    assert call(tab, "live_workers") == 2
    assert call(tab, "spawn_join", 2) == [0, 1]
    errors.assert_none()
