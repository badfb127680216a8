"""What every browser engine gives `wbspawn check`, the tests and the benchmarks.

One `Browser` per engine run (`engines.launch("firefox")`), a fresh `Page` per load
(`browser.new_page()`: no cache, no storage shared with other pages). A page collects what
goes wrong in it, in the page and in every worker it starts, as it happens:

- `uncaught`: an uncaught error or an unhandled promise rejection;
- `console`: a `console.error` (or a failed `console.assert`);
- `request`: a request that failed (network error) or got an HTTP status of 400 or more.

`evaluate(js, *args)` runs a JavaScript expression in the page; a function is called with
`args`, a promise is awaited, and the value comes back as JSON (`undefined` as None, a typed
array as a list). The same text runs in every engine (`evaluate.js`).

Engine noise that is not the page's (Firefox's Remote Settings and compositor lines on
stderr, a `PrivateBrowsingUtils` error at quit) never reaches `problems`: engines report only
what their protocol attributes to the page.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from wbspawn.errors import WbspawnError

EngineName = Literal["chromium", "firefox", "webkit"]
ENGINE_NAMES: Final[tuple[EngineName, ...]] = ("chromium", "firefox", "webkit")

ProblemSource = Literal["uncaught", "console", "request"]
ConsoleLevel = Literal["error", "warning", "info", "log", "debug"]
_LEVELS: Final[dict[str, ConsoleLevel]] = {
    "error": "error",
    "assert": "error",
    "warning": "warning",
    "warn": "warning",
    "info": "info",
    "log": "log",
    "debug": "debug",
}

# An evaluation that never settles (a hung page) fails after this long.
EVALUATE_TIMEOUT_S: Final = 120.0
# Slack on top of the page-side limit for the protocol round trip.
_PROTOCOL_SLACK_S: Final = 15.0
_EVALUATE_JS: Final = (Path(__file__).parent / "evaluate.js").read_text(encoding="utf-8")


class BrowserError(WbspawnError):
    """A browser that cannot be found or started, or that stopped answering."""


class ScriptError(BrowserError):
    """The evaluated JavaScript threw (or its promise rejected): `str()` is its message."""


class PageGone(BrowserError):
    """The document went away during the evaluation (a navigation or reload): ask again."""


class WaitTimeout(BrowserError):
    """`wait_for`'s condition did not become true in time."""


@dataclass
class Problem:
    source: str
    message: str
    location: str | None = None


@dataclass(frozen=True)
class ConsoleMessage:
    """Every console message of the page and its workers, for tests that look for one."""

    level: ConsoleLevel
    text: str
    location: str | None = None


def console_level(name: str | None) -> ConsoleLevel:
    """An engine's name for a console level (`warn`, `assert`, ...) as one of ours."""
    return _LEVELS.get(name or "log", "log")


def evaluation_source(expression: str, args: tuple[Any, ...], limit_s: float) -> str:
    """The text `Page.evaluate` runs: `expression` inside `evaluate.js`."""
    return (
        _EVALUATE_JS.replace("/*EXPRESSION*/", expression)
        .replace("/*ARGUMENTS*/", json.dumps(list(args)))
        .replace("/*LIMIT_MS*/", str(round(limit_s * 1000)))
    )


def decode_result(raw: object) -> Any:
    """The value `evaluate.js` returned (a JSON string), or its error as ScriptError."""
    if not isinstance(raw, str):
        raise ScriptError(f"the page returned {raw!r} instead of an evaluation result")
    outcome = json.loads(raw)
    if not outcome["ok"]:
        raise ScriptError(outcome["error"])
    return outcome.get("value")


class Page(ABC):
    """One tab of one engine. Event handlers run on the engine's own threads; the lists
    are read through copies."""

    engine: EngineName

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: list[Problem] = []
        self._console: list[ConsoleMessage] = []
        self.origin = ""

    # --- what the page saw -------------------------------------------------------------------

    @property
    def problems(self) -> list[Problem]:
        with self._lock:
            return list(self._problems)

    @property
    def console(self) -> list[ConsoleMessage]:
        with self._lock:
            return list(self._console)

    def console_errors(self) -> list[str]:
        return [m.text for m in self.console if m.level == "error"]

    def uncaught(self) -> list[str]:
        return [p.message for p in self.problems if p.source == "uncaught"]

    def add_problem(self, source: ProblemSource, message: str, location: str | None = None) -> None:
        with self._lock:
            self._problems.append(Problem(source, message, location))

    def add_console(self, message: ConsoleMessage) -> None:
        with self._lock:
            self._console.append(message)

    def request_problem(self, method: str, url: str, what: str) -> None:
        self.add_problem("request", f"{method} {self.short_url(url)}: {what}".rstrip())

    def short_url(self, url: str) -> str:
        """A URL of the page's own origin without it: `/pkg/app.js`."""
        if self.origin and url.startswith(self.origin + "/"):
            return url[len(self.origin) :]
        return url

    # --- driving it ----------------------------------------------------------------------------

    def open(self, url: str, *, timeout_s: float = 60.0) -> None:
        """Loads `url` and returns after its load event. Raises BrowserError if the document
        itself could not be fetched (nothing listening, a refused connection)."""
        parts = urlsplit(url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._navigate(url, timeout_s)

    def evaluate(self, expression: str, *args: Any, timeout_s: float = EVALUATE_TIMEOUT_S) -> Any:
        """Runs `expression` in the page: a function is called with `args` (JSON values), a
        promise is awaited. Raises ScriptError with the page's message if it throws."""
        source = evaluation_source(expression, args, timeout_s)
        return decode_result(self._run(source, timeout_s + _PROTOCOL_SLACK_S))

    def wait_for(
        self,
        expression: str,
        *args: Any,
        timeout_s: float = 30.0,
        interval_s: float = 0.05,
    ) -> Any:
        """Evaluates `expression` until it gives a truthy value, and returns that value. A
        navigation in between is waited out; an error the expression throws is raised."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = self.evaluate(expression, *args, timeout_s=max(timeout_s, 1.0))
            except PageGone:
                value = None
            if value:
                return value
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"{expression} was not true within {timeout_s:g} s")
            self.pause(interval_s)

    def pause(self, seconds: float) -> None:
        """Waits while the page runs (and its events arrive)."""
        time.sleep(seconds)

    def cross_origin_isolated(self) -> bool:
        return bool(self.evaluate("crossOriginIsolated"))

    @abstractmethod
    def _navigate(self, url: str, timeout_s: float) -> None: ...

    @abstractmethod
    def _run(self, source: str, timeout_s: float) -> object:
        """Evaluates `source` (an expression giving a promise of a string) and returns the
        string; PageGone if the document went away meanwhile."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Page:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Browser(ABC):
    """A running engine. `version` is what it says it is, e.g. `Firefox 153.7.0esr`."""

    name: EngineName
    version: str

    @abstractmethod
    def new_page(self) -> Page:
        """A tab in a fresh context: no cache, cookies or storage from other pages."""

    @abstractmethod
    def close(self) -> None:
        """Ends the browser and everything it started; safe to call twice."""

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def end_process_group(
    process: subprocess.Popen[str],
    reader: threading.Thread | None,
    *,
    terminate: bool,
    grace_s: float,
) -> None:
    """Ends an engine started in its own process group (its helper processes too): it gets
    `grace_s` to exit (after a SIGTERM if `terminate`, else on its own after being told to
    quit), then the group gets SIGKILL. Then its stderr `reader` finishes and the pipe closes."""
    if process.poll() is None:
        if terminate:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if reader is not None:
        reader.join(timeout=5)  # stderr ends with the process
    if process.stderr is not None:
        process.stderr.close()


def engine_version(
    path: Path, pattern: re.Pattern[str], install_hint: str, env: Mapping[str, str] | None = None
) -> re.Match[str]:
    """`pattern` found in what `path --version` printed, or a WbspawnError naming the fix."""
    try:
        proc = subprocess.run(
            [str(path), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WbspawnError(f"`{path} --version` failed ({exc}): {install_hint}") from exc
    match = pattern.search(proc.stdout)
    if match is None:
        shown = (proc.stdout or proc.stderr).strip()[:120]
        raise WbspawnError(f"`{path} --version` printed {shown!r}: {install_hint}")
    return match


# Requests a page never made: the browser asks for the icon by itself.
_BROWSER_OWN = ("/favicon.ico",)


def browser_own(url: str) -> bool:
    """Whether a request is the browser's own, not the page's (never a problem)."""
    return any(url.split("?")[0].endswith(path) for path in _BROWSER_OWN)


def location(url: str | None, line: int | None) -> str | None:
    """`url:line` (1-based) for a problem, or None without a URL."""
    if not url:
        return None
    return f"{url}:{line}" if line is not None else url
