"""Threads that die, in every engine: what must stay sound after a death. Stacks other threads
still borrow are never freed, a death holding a lock every thread needs ends the app with a
message instead of hanging it, a thread's panic message survives the app's own panic hook,
and a storm of deaths in a rayon workload leaves the app working and its memory intact.
Questions go to the runtime lab (tests/apps/lab/src/deaths.rs)."""

from __future__ import annotations

import json

import pytest

from conftest import NewPage, OpenLab
from pages import call, calling, open_lab, said_in_the_console, wait_for_done
from wbspawn.check.browser import Page

pytestmark = [pytest.mark.browser, pytest.mark.build]

APIS = ["std", "wbspawn"]


# Whether the app ended (exit code 134, as an abort) or its thread died as an ordinary one.
ENDED_OR_DIED = """async () => {
  const ended = () => document.documentElement.dataset.wbspawnExit === "134";
  if (ended()) return "ended";
  try {
    return (await window.wbspawnApp.poolState()).dead > 0 ? "died" : null;
  } catch {
    return ended() ? "ended" : null;  // it ended meanwhile
  }
}"""


def pool_state(page: Page) -> dict[str, object]:
    state: dict[str, object] = page.evaluate("() => window.wbspawnApp.poolState()")
    return state


@pytest.mark.parametrize("api", APIS)
def test_a_trap_ends_only_its_thread_in_both_panic_modes(
    new_page: NewPage, lab_url_for_panic: str, api: str
) -> None:
    # With panic=unwind, wasm-bindgen's glue marks the whole module terminated when a call
    # traps (a flag in the shared memory): every later call on every thread then failed.
    page = new_page()
    open_lab(page, lab_url_for_panic)
    assert call(page, "trap", api).startswith("thread crashed: RuntimeError: ")
    assert "stack overflow" in call(page, "overflow", api)
    assert call(page, "spawn_join", api, 3) == [0, 1, 4]


@pytest.mark.parametrize("kind", ["rayon", "crossbeam"])
def test_a_dead_lenders_stack_is_never_freed(new_lab: OpenLab, kind: str) -> None:
    # The dead thread lent an array on its stack (the stolen half of a rayon::join, a
    # crossbeam scope's thread), which the runtime is not told about. Its stack must never go
    # back to the allocator: fresh memory would then take the writer's markers.
    page = new_lab("?idleTimeoutMs=60000")
    call(page, "dead_lender_start", kind)
    page.wait_for("() => window.wbspawnApp.call('deaths').then((d) => d[0] === 1)", timeout_s=30)
    assert call(page, "markers_in_fresh_memory") == 0
    assert call(page, "markers_in_fresh_memory") == 0
    call(page, "dead_lender_stop")
    dead, leaked_kib = call(page, "deaths")
    assert dead == 1 and leaked_kib >= 2048, (dead, leaked_kib)
    state = pool_state(page)
    assert (state["dead"], state["leakedKiB"]) == (dead, leaked_kib), state
    warnings = [m.text for m in page.console if "stay allocated for good" in m.text]
    assert len(warnings) == 1, warnings
    assert call(page, "spawn_join", "std", 4) == [0, 1, 4, 9]


@pytest.mark.parametrize("lock", ["pool", "allocator"])
def test_a_thread_that_dies_holding_a_lock_everyone_needs_ends_the_app(
    new_lab: OpenLab, lock: str
) -> None:
    # Its crash report would wait for that lock forever, as would every other thread.
    # The lab cannot take std's allocator lock (it is private): its hook only marks the dying
    # thread as the holder, and an allocation elsewhere before the worker looks (a worker
    # booting meanwhile, on a loaded machine) unmarks it, so that the death reads as an
    # ordinary one and the app goes on. No allocation can pass the real lock. So for that
    # lock, a few tries on fresh pages, of which one must end the app.
    for _ in range(3 if lock == "allocator" else 1):
        page = new_lab()
        # The app may end before the call has returned: its answer does not matter.
        calling(page, "die_holding", lock)
        outcome = page.wait_for(ENDED_OR_DIED, timeout_s=30)
        if outcome == "ended":
            break
    assert outcome == "ended"
    refused = calling(page, "spawn_join", "std", 2)
    assert refused.startswith("rejected: wbspawn: the app aborted (code 134): a thread died"), (
        refused
    )
    held = "std's allocator lock" if lock == "allocator" else "a lock of the wbspawn runtime"
    assert held in refused, refused


def test_a_worker_the_browser_ends_without_a_word_is_reported(new_lab: OpenLab) -> None:
    # No error, no message: its thread's join would wait forever, and the pool would count the
    # worker as alive.
    page = new_lab()
    worker = call(page, "doomed_worker_start")
    assert worker > 0
    assert page.evaluate("(id) => window.wbspawnApp.killWorkerForTesting(id)", worker) is True
    said = call(page, "doomed_worker_join")
    assert said.startswith("Err: thread crashed: its worker was ended by the browser"), said
    errors = said_in_the_console(page, "without a word", within_s=10)
    assert any(f"thread worker {worker} without a word" in e for e in errors), errors
    assert call(page, "spawn_join", "std", 4) == [0, 1, 4, 9]
    assert pool_state(page)["dead"] == 1


def test_the_patched_std_marks_the_allocators_holder(new_lab: OpenLab) -> None:
    # The crash path can only see a dead holder if std says who holds the lock.
    assert call(new_lab(), "allocator_holder_seen") is True


def test_join_async_blocked_on_in_a_spawned_thread_returns(new_lab: OpenLab) -> None:
    # The thread has no event loop while it blocks: the waker must come from the other end.
    assert call(new_lab(), "join_async_in_thread") == 5


@pytest.mark.parametrize("api", APIS)
def test_a_panic_message_reaches_join_whatever_hook_the_app_sets(
    new_lab: OpenLab, api: str
) -> None:
    page = new_lab()
    call(page, "replace_panic_hook")
    assert "deliberate panic 7" in call(page, "panicking_thread", api)


@pytest.mark.parametrize("api", APIS)
def test_stacks_the_memory_cannot_hold_fail_and_hang_nothing(new_lab: OpenLab, api: str) -> None:
    # Five 256 MiB stacks at once do not fit the memory. A worker whose stack allocation failed
    # inside wasm-bindgen's start left its lock held, and every later worker waited for it:
    # now a spawn whose stack does not fit fails (OutOfMemory, as natively), and one whose
    # memory ran out between the spawn and its worker's start (another worker took it) gets
    # the failed start at its join. Either way the app goes on.
    page = new_lab()
    for _ in range(2):
        said = call(page, "big_stacks", api, 5, 256)
        assert "ok" in said, said
        for each in said:
            assert (
                each == "ok"
                or each == "Err: not enough memory left for a thread with a 256 MiB stack"
                or (each.startswith("join: ") and "worker failed to start" in each)
            ), said
        assert call(page, "spawn_join", api, 4) == [0, 1, 4, 9]


@pytest.mark.parametrize("api", APIS)
def test_spawning_from_a_thread_local_destructor_works(new_lab: OpenLab, api: str) -> None:
    assert call(new_lab(), "spawn_in_a_thread_local_destructor", api) == 42


def test_available_parallelism_before_start_is_the_browsers(new_lab: OpenLab) -> None:
    # A rayon pool built in #[wasm_bindgen(start)] sizes itself from it.
    page = new_lab()
    assert call(page, "parallelism_at_start") == page.evaluate(
        "() => navigator.hardwareConcurrency"
    )


@pytest.mark.parametrize("api", APIS)
def test_a_thread_scope_in_start_fails_start_with_a_message(
    new_page: NewPage, lab_url: str, api: str
) -> None:
    # No thread can run before start() has finished: the scope would wait forever.
    page = new_page()
    page.open(f"{lab_url}?args={json.dumps(['scope-in-start', api])}")
    status, detail = wait_for_done(page, timeout_s=60)
    assert status == "fail"
    assert "a scoped thread cannot run before the app has started" in detail, detail


def test_a_crash_storm_leaves_the_app_sound(new_page: NewPage, lab_url_for_panic: str) -> None:
    # Hundreds of panics, stack overflows and traps inside rayon joins and scopes, thread
    # scopes, channel sends and allocations. Each rayon pool a death happens in keeps its
    # other worker parked (rayon waits for the dead job), hence the raised cap.
    page = new_page()
    open_lab(page, lab_url_for_panic, "?maxWorkers=256")
    if page.engine == "webkit" and call(page, "panic_strategy") == "unwind":
        pytest.skip("WebKitGTK 2.50 mishandles the lab's unwinding panics (test_runtime_unwind.py)")
    # WebKit starts a worker far more slowly (two seconds a round here): fewer rounds there.
    # Each round is seven deaths of different kinds.
    rounds = 15 if page.engine == "webkit" else 100
    died, overwritten = page.evaluate(
        "(n) => window.wbspawnApp.call('crash_storm', n, 7)", rounds, timeout_s=300
    )
    assert (died, overwritten) == (rounds, 0)
    assert call(page, "spawn_join", "std", 4) == [0, 1, 4, 9]
    assert call(page, "markers_in_fresh_memory") == 0
    state = pool_state(page)
    dead, _ = call(page, "deaths")
    assert state["dead"] == dead and dead > 0, state
