"""The thread inspector's data, in every engine: `poolState().table` says what each thread does
(from shared memory, read by the dispatcher while the threads wait), and the runtime names a
deadlock on the console and in `poolState().deadlock` within seconds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conftest import OpenLab
from pages import said_in_the_console
from wbspawn.check.browser import Page

pytestmark = [pytest.mark.browser, pytest.mark.build]

STATE = "() => window.wbspawnApp.poolState()"
# Starts a call that never returns (its thread stays blocked), without waiting for it.
CALL_AWAY = "(args) => { window.wbspawnApp.call(...args); }"


def rows_by_name(page: Page) -> dict[str, dict[str, Any]]:
    # The table is the dispatcher's, which starts once the app is ready.
    state = page.wait_for(
        "() => window.wbspawnApp.poolState().then((s) => s.started && s.table.length > 0 && s)"
    )
    return {row["name"]: row for row in state["table"]}


def deadlock(page: Page, within_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        found = page.evaluate(STATE).get("deadlock")  # none before the dispatcher has started
        if found is not None or time.monotonic() > deadline:
            assert found is not None, page.evaluate(STATE)
            return dict(found)
        page.pause(0.2)


def test_the_table_says_what_each_thread_does(new_lab: OpenLab) -> None:
    page = new_lab("?prestart=4")
    page.evaluate("() => window.wbspawnApp.call('hold_states')")
    rows = rows_by_name(page)
    main = rows["main"]
    assert (main["state"], main["spawnedBy"], main["worker"]) == ("running", None, 0)
    assert rows["holder"]["state"] == "parked", rows  # on the channel, holding the lock
    assert rows["locker"]["state"] == "lock", rows
    assert rows["sleeper"]["state"] == "sleeping", rows
    assert rows["sleeper"]["on"].endswith(" ms left"), rows
    assert 0 < int(rows["sleeper"]["on"].split()[0]) <= 3000, rows
    joiner = rows["joiner"]
    assert (joiner["state"], int(joiner["on"])) == ("joining", rows["sleeper"]["id"]), rows
    for name in ("holder", "locker", "sleeper", "joiner"):
        assert rows[name]["spawnedBy"] == main["id"], rows
        assert rows[name]["worker"] > 0 and rows[name]["forMs"] >= 0, rows
    # Timed from when the state began: a second later, a second longer.
    page.pause(1.2)
    later = rows_by_name(page)
    assert later["locker"]["forMs"] >= rows["locker"]["forMs"] + 1000, (rows, later)
    assert page.evaluate(STATE)["deadlock"] is None  # the sleeper will wake them all

    page.evaluate("() => window.wbspawnApp.call('release_states')")
    # Let go, they end: only the sleeper and its joiner are left, until the sleep is over.
    page.wait_for(
        """() => window.wbspawnApp.poolState().then((s) =>
            s.table.every((row) => ["main", "sleeper", "joiner"].includes(row.name)))""",
        timeout_s=10,
    )


def test_threads_that_join_each_other_are_named(new_lab: OpenLab) -> None:
    page = new_lab("?prestart=2")
    page.evaluate("() => window.wbspawnApp.call('join_cycle')")
    errors = said_in_the_console(page, "join each other", within_s=10)
    said = next(e for e in errors if "join each other" in e)
    assert "'ping' (#" in said and "joins 'pong' (#" in said, said
    assert "'pong' (#" in said and "joins 'ping' (#" in said, said
    found = deadlock(page, within_s=5)
    rows = rows_by_name(page)
    assert found["kind"] == "joins"
    assert sorted(found["threads"]) == sorted([rows["ping"]["id"], rows["pong"]["id"]])


def test_a_lock_order_deadlock_under_a_join_is_named(new_lab: OpenLab) -> None:
    page = new_lab("?prestart=2")
    # The app's own thread joins one of the two: nothing is left running.
    page.evaluate(CALL_AWAY, ["lock_order_deadlock", True])
    errors = said_in_the_console(page, "every thread has waited", within_s=10)
    said = next(e for e in errors if "every thread has waited" in e)
    assert "main (#" in said and "joins 'a-then-b' (#" in said, said
    assert "'a-then-b' (#" in said and "'b-then-a' (#" in said, said
    assert said.count("waits for a lock (0x") == 2, said
    assert deadlock(page, within_s=5)["kind"] == "blocked"


def test_threads_blocked_beside_a_free_app_thread_are_shown_not_judged(
    new_lab: OpenLab,
) -> None:
    # The app's own thread may still unlock, send or notify what they wait for (an idle pool
    # waits so): the table says what each waits on, and the runtime names no deadlock.
    page = new_lab("?prestart=2")
    page.evaluate("() => window.wbspawnApp.call('lock_order_deadlock', false)")
    page.pause(3.5)
    rows = rows_by_name(page)
    assert rows["a-then-b"]["state"] == rows["b-then-a"]["state"] == "lock", rows
    assert rows["a-then-b"]["forMs"] >= 2000, rows
    assert page.evaluate(STATE)["deadlock"] is None
    assert not any("deadlock" in e for e in page.console_errors())
