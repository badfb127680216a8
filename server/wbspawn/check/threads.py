"""What every thread of a page's app was doing, read when a check or a test run fails or
hangs: the runtime's thread table (`poolState()`: `table`, its `lines` and any `deadlock` it
sees, runtime-js/inspect.js), so a red CI run says which thread waited for what."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wbspawn.check.browser import BrowserError, Page

# The app the page started last (bootstrap.js keeps it for tools).
_POOL_STATE = "self.__wbspawnApp ? self.__wbspawnApp.poolState() : null"


@dataclass
class Threads:
    # One dict per live thread (id, name, state, on, forMs, spawnedBy, worker).
    table: list[dict[str, Any]] = field(default_factory=list)
    # The same, one line a thread: "'a' (#3) joins 'b' (#4) for 2.1 s".
    lines: list[str] = field(default_factory=list)
    # The deadlock the runtime named ({kind, threads, message}), if any.
    deadlock: dict[str, Any] | None = None
    # The rest of the pool's state (live, idle, queued, booting, ...).
    pool: dict[str, Any] = field(default_factory=dict)


def read_threads(page: Page) -> Threads | None:
    """The app's threads now; None if the page has no app or cannot answer."""
    try:
        state = page.evaluate(_POOL_STATE, timeout_s=10)
    except BrowserError:
        return None
    if not isinstance(state, dict) or "error" in state or not state.get("started"):
        return None  # no app, no answer, or no dispatcher yet (it keeps the table)
    if not isinstance(state.get("table"), list):
        return None
    return Threads(
        table=[row for row in state.get("table", []) if isinstance(row, dict)],
        lines=[str(line) for line in state.get("lines", [])],
        deadlock=state.get("deadlock") if isinstance(state.get("deadlock"), dict) else None,
        pool={k: v for k, v in state.items() if k not in ("table", "lines", "deadlock")},
    )


def format_threads(threads: Threads) -> str:
    """The table for a terminal: a heading and one indented line a thread."""
    if not threads.lines:
        return "threads: none running"
    return "threads:\n" + "\n".join(f"  {line}" for line in threads.lines)
