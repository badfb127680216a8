"""Firefox, driven through its own WebDriver BiDi (no geckodriver, no Playwright build).

`firefox --headless --remote-debugging-port 0` prints the websocket it listens on; one BiDi
session then opens a tab per page in a user context of its own (no shared cache or storage).
BiDi attributes console messages, uncaught errors and unhandled rejections of workers,
nested ones too, and their requests, to the tab that started them.

Debian's `firefox-esr` (153 ESR) is the one `make setup` installs; WBSPAWN_FIREFOX picks
another. Each run gets a throwaway profile, where `prefs` land (e.g. a low
`dom.workers.maxPerDomain` for the worker-cap test).
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from wbspawn.build.toolchain import Which, find_executable
from wbspawn.check.browser import (
    Browser,
    BrowserError,
    ConsoleMessage,
    EngineName,
    Page,
    PageGone,
    ScriptError,
    browser_own,
    console_level,
    end_process_group,
    engine_version,
    location,
)
from wbspawn.check.rpc import Connection, Message

INSTALL_HINT: Final = "run `apt-get install firefox-esr` (or `make setup`), or set WBSPAWN_FIREFOX"
DEFAULT_PATHS: Final = (Path("/usr/bin/firefox-esr"), Path("/usr/bin/firefox"))
START_TIMEOUT_S: Final = 60.0
COMMAND_TIMEOUT_S: Final = 60.0

Pref = bool | int | str

# A quiet headless run on a machine without internet: no first-run pages, no update, telemetry
# or experiment fetches (their failures only fill stderr). The remote agent adds its own
# recommended prefs on top.
QUIET_PREFS: Final[Mapping[str, Pref]] = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.normandy.enabled": False,
    "app.update.auto": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "browser.region.network.url": "",
    "network.connectivity-service.enabled": False,
}

_LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")
_VERSION = re.compile(r"Firefox\s+(\d+(?:\.\d+)*\S*)")
# Failures that are the page's own choice (a navigation or an AbortController cancelled it).
_CANCELLED = ("NS_BINDING_ABORTED",)


def find(
    environ: Mapping[str, str] | None = None,
    *,
    which: Which = shutil.which,
    defaults: tuple[Path, ...] = DEFAULT_PATHS,
) -> Path:
    """WBSPAWN_FIREFOX, else `firefox-esr` or `firefox` on PATH, else the Debian paths."""
    env = os.environ if environ is None else environ
    return find_executable(
        "WBSPAWN_FIREFOX",
        "firefox-esr",
        [Path(p) for p in (which("firefox"),) if p] + list(defaults),
        env,
        which,
        what="a Firefox executable",
        missing=f"Firefox not found: {INSTALL_HINT}",
    )


def version(path: Path) -> str:
    """`Firefox 153.7.0esr` from `firefox --version` (or a WbspawnError)."""
    return f"Firefox {engine_version(path, _VERSION, INSTALL_HINT).group(1)}"


def launch(
    path: Path | None = None,
    *,
    prefs: Mapping[str, Pref] | None = None,
    start_timeout_s: float = START_TIMEOUT_S,
) -> FirefoxBrowser:
    """Headless Firefox with a fresh profile, or a BrowserError saying why it did not start."""
    executable = find() if path is None else path
    return FirefoxBrowser(executable, version(executable), dict(prefs or {}), start_timeout_s)


def _user_js(prefs: Mapping[str, Pref]) -> str:
    def value(v: Pref) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "".join(f'user_pref("{name}", {value(v)});\n' for name, v in prefs.items())


class FirefoxBrowser(Browser):
    name: EngineName = "firefox"

    def __init__(
        self, path: Path, version: str, prefs: dict[str, Pref], start_timeout_s: float
    ) -> None:
        self.path = path
        self.version = version
        self._pages: dict[str, FirefoxPage] = {}
        self._pages_lock = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._profile = Path(tempfile.mkdtemp(prefix="wbspawn-firefox-"))
        (self._profile / "user.js").write_text(_user_js({**QUIET_PREFS, **prefs}))
        self._closed = False
        try:
            self._process = subprocess.Popen(
                [
                    str(path),
                    "--headless",
                    "--no-remote",
                    "--remote-debugging-port",
                    "0",
                    "--profile",
                    str(self._profile),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                start_new_session=True,  # one group: closing ends its content processes too
            )
        except OSError as exc:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise BrowserError(f"cannot start Firefox ({path}): {exc}: {INSTALL_HINT}") from exc
        try:
            url = self._wait_for_listening(start_timeout_s)
            self._connection = Connection(f"{url}/session", self._on_message, what="Firefox")
            self._connection.start()
            self.command("session.new", {"capabilities": {}})
            self.command(
                "session.subscribe",
                {
                    "events": [
                        "log.entryAdded",
                        "network.responseStarted",
                        "network.responseCompleted",
                        "network.fetchError",
                    ]
                },
            )
        except BaseException:
            self.close()
            raise

    def _wait_for_listening(self, timeout_s: float) -> str:
        found: list[str] = []
        listening = threading.Event()

        def read() -> None:
            for line in self._process.stderr or ():
                self._stderr.append(line.rstrip())
                if not found and (match := _LISTENING.search(line)):
                    found.append(match.group(1))
                    listening.set()
            listening.set()  # stderr closed: Firefox exited

        self._reader = threading.Thread(target=read, name="wbspawn-firefox-stderr", daemon=True)
        self._reader.start()
        listening.wait(timeout_s)
        if not found:
            tail = " | ".join(list(self._stderr)[-3:]) or "no output"
            raise BrowserError(
                f"Firefox ({self.path}) did not start its remote agent within "
                f"{timeout_s:g} s ({tail}): {INSTALL_HINT}"
            )
        return found[0]

    def command(
        self, method: str, params: Mapping[str, Any], timeout_s: float = COMMAND_TIMEOUT_S
    ) -> Any:
        """One BiDi command; its `result`, or BiDiError with the browser's message."""
        message_id = self._connection.next_id()
        answer = self._connection.call(
            {"id": message_id, "method": method, "params": dict(params)}, message_id, timeout_s
        )
        if answer.get("type") == "error":
            raise BiDiError(answer.get("error", "error"), answer.get("message", ""), method)
        return answer.get("result", {})

    def _on_message(self, message: Message) -> None:
        if "id" in message and message.get("type") in ("success", "error"):
            self._connection.resolve(message["id"], message)
            return
        params = message.get("params", {})
        context = params.get("source", {}).get("context") or params.get("context")
        with self._pages_lock:
            page = self._pages.get(context) if context else None
        if page is not None:
            page.on_event(message.get("method", ""), params)

    def new_page(self) -> FirefoxPage:
        user_context = self.command("browser.createUserContext", {})["userContext"]
        context = self.command(
            "browsingContext.create", {"type": "tab", "userContext": user_context}
        )
        page = FirefoxPage(self, context["context"], user_context)
        with self._pages_lock:
            self._pages[page.context] = page
        return page

    def forget(self, page: FirefoxPage) -> None:
        with self._pages_lock:
            self._pages.pop(page.context, None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        connection = getattr(self, "_connection", None)
        if connection is not None:
            with contextlib.suppress(BrowserError):  # it is going away either way
                self.command("browser.close", {}, timeout_s=10)
            connection.close()
        process: subprocess.Popen[str] | None = getattr(self, "_process", None)
        if process is not None:
            # browser.close above asked it to quit.
            reader = getattr(self, "_reader", None)
            end_process_group(process, reader, terminate=False, grace_s=10)
        shutil.rmtree(self._profile, ignore_errors=True)


class BiDiError(BrowserError):
    def __init__(self, error: str, message: str, method: str) -> None:
        super().__init__(f"Firefox refused {method}: {error}: {message}".rstrip(": "))
        self.error = error
        self.detail = message


class FirefoxPage(Page):
    engine: EngineName = "firefox"

    def __init__(self, browser: FirefoxBrowser, context: str, user_context: str) -> None:
        super().__init__()
        self.browser = browser
        self.context = context
        self.user_context = user_context
        self._closed = False
        # Requests already reported: Firefox may follow a response's status with a fetch
        # error for the same request (a 404 module script is then "corrupted content").
        self._reported: set[str] = set()

    def _navigate(self, url: str, timeout_s: float) -> None:
        try:
            self.browser.command(
                "browsingContext.navigate",
                {"context": self.context, "url": url, "wait": "complete"},
                timeout_s=timeout_s,
            )
        except BiDiError as exc:
            raise BrowserError(f"cannot load {url}: {exc.detail or exc.error}") from exc

    def _run(self, source: str, timeout_s: float) -> object:
        try:
            result = self.browser.command(
                "script.evaluate",
                {
                    "expression": source,
                    "target": {"context": self.context},
                    "awaitPromise": True,
                    "resultOwnership": "none",
                },
                timeout_s=timeout_s,
            )
        except BiDiError as exc:
            # The realm the script ran in went away: a navigation or reload.
            if exc.error in ("no such frame", "unknown error") and (
                "destroyed" in exc.detail or "discarded" in exc.detail or "navigat" in exc.detail
            ):
                raise PageGone(str(exc)) from exc
            raise
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise ScriptError(details.get("text") or "the evaluated script threw")
        return result.get("result", {}).get("value")

    def on_event(self, method: str, params: Message) -> None:
        if method == "log.entryAdded":
            self._on_log(params)
        elif method in ("network.responseStarted", "network.responseCompleted"):
            status = params.get("response", {}).get("status", 0)
            if status >= 400:
                text = params["response"].get("statusText", "")
                self._request_failed(params, f"{status} {text}")
        elif method == "network.fetchError":
            error = params.get("errorText", "failed")
            if error not in _CANCELLED:
                self._request_failed(params, error)

    def _request_failed(self, params: Message, what: str) -> None:
        request = params["request"]
        if request["request"] in self._reported or self._browser_own(params):
            return
        self._reported.add(request["request"])
        self.request_problem(request["method"], request["url"], what)

    def _on_log(self, params: Message) -> None:
        frames = (params.get("stackTrace") or {}).get("callFrames") or []
        top = frames[0] if frames else {}
        where = location(top.get("url"), _line(top))
        text = params.get("text") or ""
        level = console_level(params.get("level"))
        if params.get("type") == "javascript":
            if level == "error":
                self.add_problem("uncaught", text or "uncaught error without a message", where)
            return
        self.add_console(ConsoleMessage(level, text, where))
        if level == "error":
            self.add_problem("console", text, where)

    @staticmethod
    def _browser_own(params: Message) -> bool:
        return browser_own(params.get("request", {}).get("url", ""))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.browser.forget(self)
        with contextlib.suppress(BrowserError):  # the browser is gone, and the tab with it
            self.browser.command("browsingContext.close", {"context": self.context}, timeout_s=10)
            self.browser.command(
                "browser.removeUserContext", {"userContext": self.user_context}, timeout_s=10
            )


def _line(frame: Message) -> int | None:
    line = frame.get("lineNumber")
    return line + 1 if isinstance(line, int) else None
