"""`wbspawn check APP_DIR`: the CI smoke test. Build, serve, open headless Chromium, judge.

The app fails on the first of: an uncaught error or unhandled rejection in the page or any
of its workers, a `console.error`, a failed request (a network error or an HTTP status of
400 or more), `crossOriginIsolated` false, `done(false, ...)`, or no `done(...)` within the
timeout. Which pages must call `done`: the default page (it always does), and any app whose
own scripts call `done(` (`expects_done`). A page that never calls it passes once it has run
for the settle time without an error.

The report (`Report.to_json`) lists each error with its source: setup, build, uncaught,
console, request, isolation, done or timeout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from wbspawn import ansi
from wbspawn.build import toolchain as toolchain_mod
from wbspawn.build.pipeline import build
from wbspawn.check import chromium as browser
from wbspawn.config import CHECK_SETTLE_S, CHECK_TIMEOUT_S, Config
from wbspawn.errors import BuildError, WbspawnError
from wbspawn.serve.app import create_app
from wbspawn.serve.server import running
from wbspawn.serve.watch import TOP_LEVEL_IGNORED, is_ignored_name
from wbspawn.terminal import CargoProgress, Terminal

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Error, Page, Request, Response

Source = Literal["setup", "build", "uncaught", "console", "request", "isolation", "done", "timeout"]

# After done(...) or a first error: late errors (a rejection right after done) still count.
GRACE_S = 0.5
POLL_MS = 100

# A call of `done(` that is not a method (`.done(`) or part of a longer name.
_DONE_CALL = re.compile(r"(?<![\w$.])done\s*\(")
_WEB_SUFFIXES = frozenset({".js", ".mjs", ".html"})
_SCAN_LIMIT_BYTES = 1 << 20


@dataclass
class Problem:
    source: Source
    message: str
    location: str | None = None


@dataclass
class Report:
    app: str
    status: Literal["pass", "fail"] = "fail"
    crate: str | None = None
    url: str | None = None
    duration_s: float = 0.0
    build_s: float | None = None
    browser: str | None = None
    std_threads: str | None = None
    stack_checks: str | None = None
    waited_for: Literal["done", "settle"] | None = None
    done: dict[str, Any] | None = None
    cross_origin_isolated: bool | None = None
    errors: list[Problem] = field(default_factory=list)

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


def _web_files(app_dir: Path) -> Iterator[Path]:
    for path in sorted(app_dir.rglob("*")):
        parts = path.relative_to(app_dir).parts
        if parts[0] in TOP_LEVEL_IGNORED or any(is_ignored_name(p) for p in parts):
            continue
        if path.suffix.lower() in _WEB_SUFFIXES and path.is_file():
            yield path


class PageWatch:
    """Collects the problems a page shows; Playwright calls the handlers as events arrive."""

    def __init__(self, page: Page, origin: str) -> None:
        self.origin = origin
        self.problems: list[Problem] = []
        page.on("pageerror", self.on_page_error)
        page.on("console", self.on_console)
        page.on("requestfailed", self.on_request_failed)
        page.on("response", self.on_response)

    def add(self, source: Source, message: str, location: str | None = None) -> None:
        self.problems.append(Problem(source, message, location))

    def on_page_error(self, error: Error) -> None:
        # Uncaught exceptions and unhandled rejections, of the page and its workers alike.
        message = f"{error.name}: {error.message}" if error.name else error.message
        self.add("uncaught", message or "uncaught error without a message", _first_url(error))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type not in ("error", "assert"):
            return
        # Chromium also logs each failed request; `request` problems report those.
        if message.text.startswith("Failed to load resource"):
            return
        where = message.location
        location = f"{where['url']}:{where['lineNumber'] + 1}" if where.get("url") else None
        self.add("console", message.text, location)

    def on_request_failed(self, request: Request) -> None:
        failure = request.failure or "failed"
        if failure == "net::ERR_ABORTED":
            return  # cancelled by the page itself (a navigation, an AbortController)
        self.add("request", f"{request.method} {self._short(request.url)}: {failure}")

    def on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.add(
                "request",
                f"{response.request.method} {self._short(response.url)}: "
                f"{response.status} {response.status_text}".rstrip(),
            )

    def _short(self, url: str) -> str:
        return url[len(self.origin) :] if url.startswith(self.origin) else url


_URL_IN_STACK = re.compile(r"(https?://\S+?:\d+)(?::\d+)?\)?$", re.MULTILINE)


def _first_url(error: Error) -> str | None:
    match = _URL_IN_STACK.search(error.stack or "")
    return match.group(1) if match else None


def check(
    config: Config,
    *,
    timeout_s: float = CHECK_TIMEOUT_S,
    settle_s: float = CHECK_SETTLE_S,
    terminal: Terminal | None = None,
) -> Report:
    """Build and run the app once in headless Chromium; the verdict and what it saw."""
    term = Terminal() if terminal is None else terminal
    started = time.monotonic()
    report = Report(app=str(config.app_dir))
    chromium = browser.find_chromium()  # before a build of minutes: fail fast
    report.browser = browser.chromium_version(chromium)
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
        report.errors.append(Problem("build", _build_text(exc)))
        report.duration_s = round(time.monotonic() - started, 3)
        return report
    term.built(result, progress)
    report.crate = result.crate_name
    report.build_s = round(result.duration_s, 3)
    report.std_threads = result.std_threads
    report.stack_checks = result.stack_checks

    waits_for_done = expects_done(config.app_dir)
    report.waited_for = "done" if waits_for_done else "settle"
    with running(create_app(config, result)) as url:
        report.url = url
        _run_page(report, chromium, url, timeout_s if waits_for_done else settle_s, waits_for_done)
    report.status = "pass" if not report.errors else "fail"
    report.duration_s = round(time.monotonic() - started, 3)
    return report


def _build_text(exc: BuildError) -> str:
    return "\n".join(p for p in (ansi.plain(exc.diagnostics).strip(), str(exc)) if p)


def _run_page(
    report: Report, chromium: Path, url: str, wait_s: float, waits_for_done: bool
) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chrome = browser.launch(playwright, chromium)
        try:
            page = chrome.new_context().new_page()
            watch = PageWatch(page, url.rstrip("/"))
            try:
                page.goto(url, wait_until="load", timeout=wait_s * 1000 + 30_000)
            except PlaywrightError as exc:
                watch.add("request", f"GET {url}: {str(exc).splitlines()[0]}")
            else:
                report.cross_origin_isolated = bool(_evaluate(page, "crossOriginIsolated"))
                if not report.cross_origin_isolated:
                    watch.add(
                        "isolation",
                        "crossOriginIsolated is false: the page gets no SharedArrayBuffer "
                        "(check Cross-Origin-Opener-Policy/-Embedder-Policy headers)",
                    )
                report.done = _wait(page, watch, wait_s, waits_for_done)
            report.errors.extend(watch.problems)
        finally:
            chrome.close()


def _wait(
    page: Page, watch: PageWatch, wait_s: float, waits_for_done: bool
) -> dict[str, Any] | None:
    """Until done(...), the first error, or the deadline; then a short grace for late errors."""
    deadline = time.monotonic() + wait_s
    done: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        done = _done_state(page)
        if done is not None or watch.problems:
            break
        page.wait_for_timeout(POLL_MS)  # lets Playwright deliver the page's events
    else:
        done = _done_state(page)
        if done is None and waits_for_done:
            watch.add("timeout", f"no done(...) within {wait_s:g} s (--timeout)")
    page.wait_for_timeout(GRACE_S * 1000)
    if done is not None and not done["ok"]:
        watch.add("done", f"done(false): {done['detail']}")
    return done


def _done_state(page: Page) -> dict[str, Any] | None:
    state = _evaluate(
        page,
        "(() => { const d = document.documentElement.dataset;"
        " return d.wbspawnStatus ? {status: d.wbspawnStatus, detail: d.wbspawnDetail ?? ''}"
        " : null; })()",
    )
    if not isinstance(state, dict):
        return None
    return {"ok": state.get("status") == "pass", "detail": str(state.get("detail", ""))}


def _evaluate(page: Page, expression: str) -> Any:
    from playwright.sync_api import Error as PlaywrightError

    try:
        return page.evaluate(expression)
    except PlaywrightError:
        return None  # mid-navigation: asked again on the next poll


def format_report(report: Report) -> str:
    """The human summary: one verdict line, then one line per error."""
    name = report.crate or Path(report.app).name
    verdict = "PASS" if report.status == "pass" else "FAIL"
    line = f"wbspawn check: {verdict} {name} in {report.duration_s:.1f} s"
    if report.done is not None and report.done["ok"]:
        line += f" (done: {report.done['detail']})" if report.done["detail"] else " (done)"
    elif report.status == "pass" and report.waited_for == "settle":
        line += " (no done(...) in the page's scripts; ran without errors)"
    lines = [line]
    if report.errors:
        lines[0] += f", {len(report.errors)} error{'s' if len(report.errors) != 1 else ''}:"
        for problem in report.errors:
            where = f" ({problem.location})" if problem.location else ""
            text = problem.message.replace("\n", "\n    ")
            lines.append(f"  [{problem.source}] {text}{where}")
    return "\n".join(lines)


def error_report(config: Config, exc: WbspawnError, started: float) -> Report:
    """The --json report for a check that could not run (no Chromium, no toolchain)."""
    report = Report(app=str(config.app_dir))
    report.errors.append(Problem("setup", str(exc)))
    report.duration_s = round(time.monotonic() - started, 3)
    return report
