"""`wbspawn check APP_DIR`: the CI smoke test. Build, serve, open a headless browser, judge.

The app fails on the first of: an uncaught error or unhandled rejection in the page or any
of its workers, a `console.error` (which is also how the runtime reports a program that
ended with a non-zero code: `process::exit(3)`, `abort`), a failed request (a network error
or an HTTP status of 400 or more), `crossOriginIsolated` false, `done(false, ...)`, or no
`done(...)` within the timeout. A program that exits with code 0 has finished: no `done` is
waited for then. Which pages must call `done`: the default page (it always does), and any app whose
own scripts call `done(` (`expects_done`). A page that never calls it passes once it has run
for the settle time without an error.

The same contract holds in every engine (Chromium, Firefox, WebKit: `engines.py`); with
several, the app is built and served once and each engine judges it in turn.

Given a dist (`wbspawn build`'s output) instead of an app, nothing is built: the dist is served
as `wbspawn preview` serves it, so CI tests what it will deploy.

The report (`Report.to_json`) names the engine and its version, lists each error with its
source (setup, build, uncaught, console, request, isolation, done or timeout), the lines the
app printed (stdout and stderr, each with its thread) and its exit code, if it exited. Those
lines are printed on stderr as they come, tagged with their thread.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from wbspawn import ansi
from wbspawn.build import toolchain as toolchain_mod
from wbspawn.build.pipeline import build
from wbspawn.check import engines
from wbspawn.check.browser import BrowserError, EngineName, Page, Problem
from wbspawn.check.output import output_lines
from wbspawn.check.threads import Threads, format_threads, read_threads
from wbspawn.config import CHECK_SETTLE_S, CHECK_TIMEOUT_S, Config
from wbspawn.errors import BuildError, WbspawnError
from wbspawn.output import OutputLine
from wbspawn.serve.app import create_app
from wbspawn.serve.server import running
from wbspawn.serve.watch import TOP_LEVEL_IGNORED, is_ignored_name
from wbspawn.ship.manifest import Dist, read_dist
from wbspawn.ship.preview import preview_app
from wbspawn.terminal import CargoProgress, Terminal

# After done(...) or a first error: late errors (a rejection right after done) still count.
GRACE_S = 0.5
POLL_MS = 100

# A call of `done(` that is not a method (`.done(`) or part of a longer name.
_DONE_CALL = re.compile(r"(?<![\w$.])done\s*\(")
_WEB_SUFFIXES = frozenset({".js", ".mjs", ".html"})
_SCAN_LIMIT_BYTES = 1 << 20


@dataclass
class Report:
    app: str
    status: Literal["pass", "fail"] = "fail"
    crate: str | None = None
    url: str | None = None
    duration_s: float = 0.0
    build_s: float | None = None
    engine: EngineName = "chromium"
    # What the engine says it is: "Chromium 156.0.8078.79", "Firefox 153.7.0esr", ...
    browser: str | None = None
    std_threads: str | None = None
    stack_checks: str | None = None
    waited_for: Literal["done", "settle"] | None = None
    done: dict[str, Any] | None = None
    cross_origin_isolated: bool | None = None
    errors: list[Problem] = field(default_factory=list)
    # What the app printed, in order, and the code it exited with (process::exit), if it did.
    output: list[OutputLine] = field(default_factory=list)
    exit_code: int | None = None
    # When the page failed or hung: every thread of the app and what it did then (one line a
    # thread, and the table), and the deadlock the runtime named, if it named one.
    threads: list[str] | None = None
    thread_table: list[dict[str, Any]] | None = None
    deadlock: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def expects_done(app_dir: Path) -> bool:
    """Whether the page will call done(...): the default page does, an app's own if its
    scripts say `done(`."""
    if not (app_dir / "index.html").is_file():
        return True
    for path in _web_files(app_dir):
        try:
            if path.stat().st_size > _SCAN_LIMIT_BYTES:
                continue
            if _DONE_CALL.search(path.read_text(encoding="utf-8", errors="replace")):
                return True
        except OSError:
            continue
    return False


def dist_expects_done(dist: Dist) -> bool:
    """`expects_done` for a built dist: its pages and the app's scripts, not the runtime's
    (the default page's scripts, under /_wbspawn/static/, are the app's here)."""
    app_files = [
        path
        for url, path in dist.files.items()
        if not url.startswith("/_wbspawn/") or url.startswith("/_wbspawn/static/")
    ]
    for rel in (*dist.pages, *app_files):
        path = dist.root / rel
        if path.suffix.lower() not in _WEB_SUFFIXES:
            continue
        try:
            if path.stat().st_size > _SCAN_LIMIT_BYTES:
                continue
            if _DONE_CALL.search(path.read_text(encoding="utf-8", errors="replace")):
                return True
        except OSError:
            continue
    return False


def _web_files(app_dir: Path) -> Iterator[Path]:
    for path in sorted(app_dir.rglob("*")):
        parts = path.relative_to(app_dir).parts
        if parts[0] in TOP_LEVEL_IGNORED or any(is_ignored_name(p) for p in parts):
            continue
        if path.suffix.lower() in _WEB_SUFFIXES and path.is_file():
            yield path


def check(
    config: Config,
    *,
    timeout_s: float = CHECK_TIMEOUT_S,
    settle_s: float = CHECK_SETTLE_S,
    terminal: Terminal | None = None,
    browser: EngineName = "chromium",
) -> Report:
    """Build and run the app once in one headless browser; the verdict and what it saw."""
    return check_engines(
        config, [browser], timeout_s=timeout_s, settle_s=settle_s, terminal=terminal
    )[0]


def check_engines(
    config: Config,
    names: Sequence[EngineName],
    *,
    timeout_s: float = CHECK_TIMEOUT_S,
    settle_s: float = CHECK_SETTLE_S,
    terminal: Terminal | None = None,
) -> list[Report]:
    """Build the app once, serve it, and judge it in each engine in turn: one report each."""
    # stdout is the report's (JSON with --json); what the app prints goes to stderr.
    term = Terminal(out=sys.stderr) if terminal is None else terminal
    started = time.monotonic()
    # Before a build of minutes: a missing browser fails fast.
    found = _find_engines(names)
    reports = _reports(str(config.app_dir), found)
    toolchain = toolchain_mod.discover()

    term.building(config.app_dir.name, config.profile)
    progress = CargoProgress()

    def on_line(line: str) -> None:
        if progress.feed(line):
            term.progress(progress)

    try:
        result = build(config, toolchain, on_cargo_line=on_line)
    except BuildError as exc:
        term.failed(exc)
        for report in reports:
            report.errors.append(Problem("build", _build_text(exc)))
            report.duration_s = round(time.monotonic() - started, 3)
        return reports
    term.built(result, progress)
    for report in reports:
        report.crate = result.crate_name
        report.build_s = round(result.duration_s, 3)
        report.std_threads = result.std_threads
        report.stack_checks = result.stack_checks
    waits_for_done = expects_done(config.app_dir)
    with running(create_app(config, result)) as url:
        _judge(found, reports, url, waits_for_done, started, timeout_s, settle_s, term)
    return reports


def check_dist(
    dist_dir: Path,
    names: Sequence[EngineName],
    *,
    timeout_s: float = CHECK_TIMEOUT_S,
    settle_s: float = CHECK_SETTLE_S,
    terminal: Terminal | None = None,
) -> list[Report]:
    """Serve a built dist as `wbspawn preview` does and judge it in each engine in turn."""
    term = Terminal(out=sys.stderr) if terminal is None else terminal
    started = time.monotonic()
    dist = read_dist(dist_dir)
    found = _find_engines(names)
    reports = _reports(str(dist.root), found)
    for report in reports:
        report.crate = dist.crate
    with running(preview_app(dist.root)) as url:
        _judge(found, reports, url, dist_expects_done(dist), started, timeout_s, settle_s, term)
    return reports


Found = list[tuple[engines.Engine, Path]]


def _find_engines(names: Sequence[EngineName]) -> Found:
    return [(engines.engine(name), engines.engine(name).find()) for name in names]


def _reports(app: str, found: Found) -> list[Report]:
    return [
        Report(app=app, engine=engine.name, browser=engine.version(path)) for engine, path in found
    ]


def _judge(
    found: Found,
    reports: list[Report],
    url: str,
    waits_for_done: bool,
    started: float,
    timeout_s: float,
    settle_s: float,
    term: Terminal,
) -> None:
    """Each engine in turn opens `url` and judges the page into its report."""
    ready_s = time.monotonic() - started
    for (engine, path), report in zip(found, reports, strict=True):
        if len(found) > 1:
            term.line(f"running in {report.browser or engine.name}…", "dim")
        engine_started = time.monotonic()
        report.waited_for = "done" if waits_for_done else "settle"
        report.url = url
        wait_s = timeout_s if waits_for_done else settle_s
        try:
            with engine.start(path) as browser:
                _run_page(report, browser.new_page(), url, wait_s, waits_for_done, term)
        except BrowserError as exc:
            report.errors.append(Problem("setup", str(exc)))
        report.status = "pass" if not report.errors else "fail"
        report.duration_s = round(ready_s + time.monotonic() - engine_started, 3)


def _build_text(exc: BuildError) -> str:
    return "\n".join(p for p in (ansi.plain(exc.diagnostics).strip(), str(exc)) if p)


def _run_page(
    report: Report, page: Page, url: str, wait_s: float, waits_for_done: bool, term: Terminal
) -> None:
    own: list[Problem] = []
    printed = 0

    def show_output() -> None:
        # The app's lines so far, printed as they come (a long run is not silent until its
        # end).
        nonlocal printed
        report.output = output_lines(page.console)
        term.app_output(report.output[printed:])
        printed = len(report.output)

    try:
        page.open(url, timeout_s=wait_s + 30)
    except BrowserError as exc:
        own.append(Problem("request", f"GET {url}: {exc}"))
    else:
        report.cross_origin_isolated = bool(evaluate_or_none(page, "crossOriginIsolated"))
        if not report.cross_origin_isolated:
            own.append(
                Problem(
                    "isolation",
                    "crossOriginIsolated is false: the page gets no SharedArrayBuffer "
                    "(check Cross-Origin-Opener-Policy/-Embedder-Policy headers)",
                )
            )
        report.done = _wait(page, own, wait_s, waits_for_done, show_output)
        report.exit_code = exit_code(page)
        if (own or page.problems) and report.exit_code is None:
            _read_threads(report, page)
    finally:
        show_output()
        page.close()
    # The page's own problems come first: they are usually the cause of the rest.
    report.errors.extend([*page.problems, *own])


def _read_threads(report: Report, page: Page) -> None:
    threads = read_threads(page)
    if threads is not None:
        report.threads = threads.lines
        report.thread_table = threads.table
        report.deadlock = threads.deadlock


def _wait(
    page: Page,
    own: list[Problem],
    wait_s: float,
    waits_for_done: bool,
    show_output: Callable[[], None],
) -> dict[str, Any] | None:
    """Until done(...), the first error, the program's exit or the deadline; then a short
    grace for late errors."""
    deadline = time.monotonic() + wait_s
    done: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        show_output()
        done = _done_state(page)
        if done is not None or page.problems or own or exit_code(page) is not None:
            break
        page.pause(POLL_MS / 1000)
    else:
        done = _done_state(page)
        if done is None and waits_for_done:
            own.append(Problem("timeout", f"no done(...) within {wait_s:g} s (--timeout)"))
    page.pause(GRACE_S)
    if done is None:
        # An error ended the wait; the page's own verdict may have followed it in the grace,
        # and its detail usually says more than the error does.
        done = _done_state(page)
    if done is not None and not done["ok"]:
        own.append(Problem("done", f"done(false): {done['detail']}"))
    return done


def _done_state(page: Page) -> dict[str, Any] | None:
    state = evaluate_or_none(
        page,
        "(() => { const d = document.documentElement.dataset;"
        " return d.wbspawnStatus ? {status: d.wbspawnStatus, detail: d.wbspawnDetail ?? ''}"
        " : null; })()",
    )
    if not isinstance(state, dict):
        return None
    return {"ok": state.get("status") == "pass", "detail": str(state.get("detail", ""))}


def exit_code(page: Page) -> int | None:
    """The code the program exited with (`<html data-wbspawn-exit>`), if it has."""
    code = evaluate_or_none(page, "document.documentElement.dataset.wbspawnExit ?? null")
    try:
        return int(code) if isinstance(code, str) else None
    except ValueError:
        return None


def evaluate_or_none(page: Page, expression: str) -> Any:
    try:
        return page.evaluate(expression, timeout_s=30)
    except BrowserError:
        return None  # mid-navigation: asked again on the next poll


def format_report(report: Report) -> str:
    """The human summary: one verdict line, then one line per error."""
    name = report.crate or Path(report.app).name
    verdict = "PASS" if report.status == "pass" else "FAIL"
    line = f"wbspawn check: {verdict} {name} in {report.duration_s:.1f} s"
    if report.browser:
        line += f" on {report.browser}"
    if report.done is not None and report.done["ok"]:
        line += f" (done: {report.done['detail']})" if report.done["detail"] else " (done)"
    elif report.exit_code is not None:
        line += f" (exited with code {report.exit_code})"
    elif report.status == "pass" and report.waited_for == "settle":
        line += " (no done(...) in the page's scripts; ran without errors)"
    lines = [line]
    if report.errors:
        lines[0] += f", {len(report.errors)} error{'s' if len(report.errors) != 1 else ''}:"
        for problem in report.errors:
            where = f" ({problem.location})" if problem.location else ""
            text = problem.message.replace("\n", "\n    ")
            lines.append(f"  [{problem.source}] {text}{where}")
    if report.threads is not None:
        lines.append("  " + format_threads(Threads(lines=report.threads)).replace("\n", "\n  "))
    return "\n".join(lines)


def error_report(
    config: Config, exc: WbspawnError, started: float, browser: EngineName = "chromium"
) -> Report:
    """The --json report for a check that could not run (no browser, no toolchain)."""
    report = Report(app=str(config.app_dir), engine=browser)
    report.errors.append(Problem("setup", str(exc)))
    report.duration_s = round(time.monotonic() - started, 3)
    return report


def combined_json(reports: Sequence[Report]) -> dict[str, Any]:
    """`--browser all`'s report: the overall verdict, then each engine's own report."""
    return {
        "app": reports[0].app if reports else "",
        "status": "pass" if reports and all(r.status == "pass" for r in reports) else "fail",
        "engines": {r.engine: r.to_json() for r in reports},
    }
