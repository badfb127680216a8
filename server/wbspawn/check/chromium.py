"""Chromium, driven by Playwright: finding it, its version, and pages that report their problems.

Playwright drives the system's Chromium (Debian's `chromium` package, which `make setup`
installs), never a browser Playwright downloads: CI machines and this project's own have no
network beyond package registries.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from wbspawn.build.toolchain import Which, find_executable
from wbspawn.check.browser import (
    Browser,
    BrowserError,
    ConsoleMessage,
    EngineName,
    Page,
    PageGone,
    ScriptError,
    console_level,
    engine_version,
    location,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Playwright, Request, Response
    from playwright.sync_api import ConsoleMessage as PlaywrightConsoleMessage
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Page as PlaywrightPage

DEFAULT_PATH: Final = Path("/usr/bin/chromium")
INSTALL_HINT: Final = "run `apt-get install chromium` (or `make setup`), or set WBSPAWN_CHROMIUM"

# No sandbox: CI containers run as root, where Chromium's sandbox refuses to start. The rest
# keep a headless run from calling home (and from waiting on a network that is not there).
LAUNCH_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def find_chromium(
    environ: Mapping[str, str] | None = None,
    *,
    which: Which = shutil.which,
    default: Path = DEFAULT_PATH,
) -> Path:
    """WBSPAWN_CHROMIUM, else `chromium` on PATH, else /usr/bin/chromium."""
    return find_executable(
        "WBSPAWN_CHROMIUM",
        "chromium",
        [default],
        os.environ if environ is None else environ,
        which,
        what="a Chromium executable",
        missing=f"Chromium not found: {INSTALL_HINT}",
    )


_VERSION = re.compile(r"(Chromium|Google Chrome|Chrome)\s+(\d+(?:\.\d+)+)")


def chromium_version(path: Path) -> str:
    """`Chromium 156.0.8078.79` from `chromium --version` (or a WbspawnError)."""
    match = engine_version(path, _VERSION, INSTALL_HINT)
    return f"{match.group(1)} {match.group(2)}"


def launch(path: Path | None = None, *, playwright: Playwright | None = None) -> ChromiumBrowser:
    """Headless Chromium at `path` (found if None). Pass the `playwright` of a running
    `sync_playwright()` (pytest-playwright's) to share it; else this starts its own."""
    executable = find_chromium() if path is None else path
    return ChromiumBrowser(executable, chromium_version(executable), playwright)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ChromiumBrowser(Browser):
    name: EngineName = "chromium"

    def __init__(self, path: Path, version: str, playwright: Playwright | None) -> None:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright

        self.path = path
        self.version = version
        self._own = None if playwright is not None else sync_playwright()
        self._playwright = playwright if playwright is not None else self._own.start()  # type: ignore[union-attr]
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=str(path), args=list(LAUNCH_ARGS), headless=True
            )
        except PlaywrightError as exc:
            self._stop_playwright()
            raise BrowserError(
                f"cannot start Chromium ({path}): {_first_line(exc)}: {INSTALL_HINT}"
            ) from exc
        self._closed = False

    def new_page(self) -> ChromiumPage:
        context = self._browser.new_context()
        return ChromiumPage(context, context.new_page())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        from playwright.sync_api import Error as PlaywrightError

        with contextlib.suppress(PlaywrightError):  # already gone
            self._browser.close()
        self._stop_playwright()

    def _stop_playwright(self) -> None:
        if self._own is not None:
            self._own.__exit__(None, None, None)
            self._own = None


class ChromiumPage(Page):
    """A Playwright page in a context of its own; Playwright calls the handlers as events
    arrive, while this thread is inside a Playwright call (`pause` lets them in)."""

    engine: EngineName = "chromium"

    def __init__(self, context: BrowserContext, page: PlaywrightPage) -> None:
        super().__init__()
        self.context = context
        self.page = page
        self._closed = False
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def _on_page_error(self, error: PlaywrightError) -> None:
        # Uncaught exceptions and unhandled rejections, of the page and its workers alike.
        message = f"{error.name}: {error.message}" if error.name else error.message
        self.add_problem(
            "uncaught", message or "uncaught error without a message", _first_url(error)
        )

    def _on_console(self, message: PlaywrightConsoleMessage) -> None:
        where = message.location
        url = where.get("url") or None
        line = where.get("lineNumber")
        place = location(url, line + 1 if isinstance(line, int) else None)
        level = console_level(message.type)
        # Chromium also logs each failed request; `request` problems report those.
        if message.text.startswith("Failed to load resource"):
            return
        self.add_console(ConsoleMessage(level, message.text, place))
        if level == "error":
            self.add_problem("console", message.text, place)

    def _on_request_failed(self, request: Request) -> None:
        failure = request.failure or "failed"
        if failure == "net::ERR_ABORTED":
            return  # cancelled by the page itself (a navigation, an AbortController)
        self.request_problem(request.method, request.url, failure)

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.request_problem(
                response.request.method, response.url, f"{response.status} {response.status_text}"
            )

    def _navigate(self, url: str, timeout_s: float) -> None:
        from playwright.sync_api import Error as PlaywrightError

        try:
            self.page.goto(url, wait_until="load", timeout=timeout_s * 1000)
        except PlaywrightError as exc:
            raise BrowserError(f"cannot load {url}: {_first_line(exc)}") from exc

    def _run(self, source: str, timeout_s: float) -> object:
        from playwright.sync_api import Error as PlaywrightError

        try:
            return self.page.evaluate(source)
        except PlaywrightError as exc:
            text = _first_line(exc)
            if "context was destroyed" in text or "navigat" in text:
                raise PageGone(text) from exc
            if "has been closed" in text:
                raise BrowserError(f"Chromium: {text}") from exc
            raise ScriptError(text.removeprefix("Page.evaluate: ")) from exc

    def pause(self, seconds: float) -> None:
        self.page.wait_for_timeout(seconds * 1000)  # Playwright delivers events meanwhile

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        from playwright.sync_api import Error as PlaywrightError

        with contextlib.suppress(PlaywrightError):  # the browser is gone
            self.context.close()


_URL_IN_STACK = re.compile(r"(https?://\S+?:\d+)(?::\d+)?\)?$", re.MULTILINE)


def _first_url(error: PlaywrightError) -> str | None:
    match = _URL_IN_STACK.search(error.stack or "")
    return match.group(1) if match else None
