"""The runtime's worker pool in Chromium: reuse, retirement, the cap, memory.

Each test opens the demo's lab page (`lab.html`), which starts the app with runtime options
from the query string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page

from pages import PageErrors, call, open_lab

pytestmark = [pytest.mark.browser, pytest.mark.build]

MIB = 1 << 20

OpenLab = Callable[[str], Page]


@pytest.fixture
def new_lab(browser: Browser, demo_url: str) -> Iterator[OpenLab]:
    contexts = []
    errors: list[PageErrors] = []

    def open_page(query: str) -> Page:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        errors.append(PageErrors(page))
        open_lab(page, demo_url, query)
        return page

    yield open_page
    for context in contexts:
        context.close()
    for page_errors in errors:
        page_errors.assert_none()


def test_2000_sequential_spawns_grow_memory_by_less_than_64_mib(new_lab: OpenLab) -> None:
    page = new_lab("")
    call(page, "sequential", 10)  # the first workers and their stacks exist
    before = call(page, "memory_bytes")
    assert call(page, "sequential", 2000) == sum(i % 7 for i in range(2000))
    grown = call(page, "memory_bytes") - before
    assert grown < 64 * MIB, f"memory grew by {grown / MIB:.1f} MiB"


def test_idle_workers_retire_and_free_their_stacks(new_lab: OpenLab) -> None:
    # Workers retire 20 ms after their last thread. Each round boots 8 new ones: without
    # __wbindgen_thread_destroy every round would leak 8 stacks of 2 MiB (240 MiB in all).
    page = new_lab("?prestart=0&idleTimeoutMs=20")
    call(page, "spawn_join", 8)
    before = call(page, "memory_bytes")
    for _ in range(15):
        assert call(page, "spawn_join", 8) == [i * i for i in range(8)]
        page.wait_for_function(
            "() => window.wbspawnApp.call('live_workers').then((n) => n === 0)",
            polling=50,
            timeout=10_000,
        )
    grown = call(page, "memory_bytes") - before
    assert grown < 64 * MIB, f"memory grew by {grown / MIB:.1f} MiB"


def test_prestart_boots_workers_ahead(new_lab: OpenLab) -> None:
    page = new_lab("?prestart=3&idleTimeoutMs=60000")
    assert call(page, "live_workers") == 3
    assert call(page, "spawn_join", 3) == [0, 1, 4]
    assert call(page, "live_workers") == 3


def test_spawns_beyond_the_cap_wait_for_a_free_worker(new_lab: OpenLab) -> None:
    page = new_lab("?prestart=0&maxWorkers=2")
    assert call(page, "spawn_join", 16) == [i * i for i in range(16)]
    assert call(page, "pipeline", 100) == [2 * i for i in range(100)]
    assert call(page, "live_workers") <= 2
