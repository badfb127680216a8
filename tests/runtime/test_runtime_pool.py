"""The runtime's worker pool in every engine: reuse, retirement, the cap, memory.

Each test opens the runtime lab (tests/apps/lab) with runtime options in the query string.
"""

from __future__ import annotations

import pytest

from conftest import OpenLab
from pages import call, wait_until_started
from wbspawn.check.browser import Page

pytestmark = [pytest.mark.browser, pytest.mark.build]

MIB = 1 << 20


def pool(page: Page) -> tuple[int, int, int]:
    live, idle, queued = call(page, "pool")
    return live, idle, queued


@pytest.mark.parametrize("api", ["std", "wbspawn"])
def test_2000_sequential_spawns_grow_memory_by_less_than_64_mib(new_lab: OpenLab, api: str) -> None:
    page = new_lab()
    call(page, "sequential", api, 10)  # the first workers and their stacks exist
    before = call(page, "memory_bytes")
    assert call(page, "sequential", api, 2000) == sum(i % 7 for i in range(2000))
    grown = call(page, "memory_bytes") - before
    assert grown < 64 * MIB, f"memory grew by {grown / MIB:.1f} MiB"


def test_idle_workers_retire_and_free_their_stacks(new_lab: OpenLab) -> None:
    # Workers retire 20 ms after their last thread. Each round boots 8 new ones: without
    # __wbindgen_thread_destroy every round would leak 8 stacks of 2 MiB (240 MiB in all).
    page = new_lab("?prestart=0&idleTimeoutMs=20")
    call(page, "spawn_join", "std", 8)
    before = call(page, "memory_bytes")
    for _ in range(15):
        assert call(page, "spawn_join", "std", 8) == [i * i for i in range(8)]
        page.wait_for(
            "() => window.wbspawnApp.call('pool').then(([live]) => live === 0)", timeout_s=30
        )
    grown = call(page, "memory_bytes") - before
    assert grown < 64 * MIB, f"memory grew by {grown / MIB:.1f} MiB"


def test_prestarted_workers_are_running_before_the_first_spawn(new_lab: OpenLab) -> None:
    page = new_lab("?prestart=3&idleTimeoutMs=60000")
    # Running means parked in the pool, waiting for work: booted, not merely requested.
    wait_until_started(page, idle=3)
    assert pool(page) == (3, 3, 0)
    assert call(page, "spawn_join", "std", 3) == [0, 1, 4]
    assert pool(page)[0] == 3


def test_spawns_beyond_the_cap_wait_for_a_free_worker(new_lab: OpenLab) -> None:
    page = new_lab("?prestart=0&maxWorkers=2")
    assert call(page, "spawn_join", "std", 16) == [i * i for i in range(16)]
    assert call(page, "spawn_join", "wbspawn", 16) == [i * i for i in range(16)]
    assert call(page, "pipeline", 100) == [2 * i for i in range(100)]
    assert pool(page)[0] <= 2


@pytest.mark.parametrize("api", ["std", "wbspawn"])
def test_sequential_spawns_never_boot_a_worker_they_do_not_need(new_lab: OpenLab, api: str) -> None:
    page = new_lab("?prestart=2&idleTimeoutMs=60000")
    wait_until_started(page, idle=2)
    before_memory = call(page, "memory_bytes")
    before, most = call(page, "sequential_pool_growth", api, 1000)
    assert most == before == 2
    assert call(page, "memory_bytes") == before_memory


def test_a_rayon_pool_built_and_dropped_100_times_needs_its_size_plus_one(
    new_lab: OpenLab,
) -> None:
    # Dropping a rayon pool does not wait for its threads to end; the next pool's threads must
    # find those workers a moment later rather than boot new ones. WebKit under load wakes the
    # old threads past the grace now and then (docs/browsers.md, "Speed"): one worker more.
    page = new_lab("?prestart=2&idleTimeoutMs=60000")
    wait_until_started(page, idle=2)
    limit = 4 if page.engine == "webkit" else 3
    assert call(page, "rayon_pool_churn", 100, 2) <= limit
