"""WebKit: WebKitGTK's MiniBrowser under Xvfb, driven through WebKit's own inspector protocol.

Why not WebKitWebDriver: a WebDriver session runs the page in an ephemeral (private) session,
and WebKit writes no console message of such a session anywhere; W3C WebDriver has no way to
hear them either. The inspector, which WebKitGTK serves over a websocket when
WEBKIT_INSPECTOR_HTTP_SERVER is set, reports console messages and uncaught errors, for the page
and (through its Worker domain, level by level) nested workers, and evaluates in the page.
Failed requests come from the console too ("Failed to load resource: ..."), without their
method: with the inspector's Network domain on, WebKitGTK 2.50 stops answering for good once
workers come and go quickly (a pool retiring idle workers), so it stays off.

Each page is a MiniBrowser process of its own (private browsing, throwaway data dirs: nothing
shared between pages) on the browser's Xvfb display. GTK builds keep SharedArrayBuffer off
unless JSC_useSharedArrayBuffer=1 is in the environment (Safari turns it on by itself for a
cross-origin isolated page), so every process gets it.

Debian's `libwebkit2gtk-4.1-0` (WebKitGTK 2.50) ships MiniBrowser; WBSPAWN_WEBKIT picks another.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from wbspawn.build.toolchain import Which, find_executable
from wbspawn.check import xvfb
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

INSTALL_HINT: Final = (
    "run `apt-get install libwebkit2gtk-4.1-0 xvfb` (or `make setup`), or set WBSPAWN_WEBKIT "
    "to a MiniBrowser"
)
START_TIMEOUT_S: Final = 60.0
COMMAND_TIMEOUT_S: Final = 60.0
# Where distributions put MiniBrowser (it is not on PATH): Debian, then Fedora.
SEARCH: Final = (
    "/usr/lib/*/webkit2gtk-4.1/MiniBrowser",
    "/usr/lib/*/webkitgtk-6.0/MiniBrowser",
    "/usr/libexec/webkit2gtk-4.1/MiniBrowser",
    "/usr/libexec/webkitgtk-6.0/MiniBrowser",
)
# What a page's process needs in its environment: SharedArrayBuffer (see above).
PAGE_ENV: Final = {"JSC_useSharedArrayBuffer": "1"}

_VERSION = re.compile(r"WebKitGTK\s+(\d+(?:\.\d+)+)")
_SOCKET = re.compile(r"(/socket/\d+/\d+/WebPage)")
# "Failed to load resource: the server responded with a status of 404 (Not Found)"
_STATUS = re.compile(r"status of (\d+) \((.*)\)$")


def find(environ: Mapping[str, str] | None = None, *, which: Which = shutil.which) -> Path:
    """WBSPAWN_WEBKIT, else MiniBrowser on PATH, else where distributions install it."""
    found = sorted(p for pattern in SEARCH for p in Path("/").glob(pattern.lstrip("/")))
    return find_executable(
        "WBSPAWN_WEBKIT",
        "MiniBrowser",
        found,
        os.environ if environ is None else environ,
        which,
        what="WebKitGTK's MiniBrowser",
        missing=f"WebKitGTK's MiniBrowser not found: {INSTALL_HINT}",
    )


def version(path: Path, display: str | None = None) -> str:
    """`WebKitGTK 2.50.6` from `MiniBrowser --version`, which needs an X display."""
    if display is None:
        with xvfb.Xvfb() as screen:
            return version(path, screen.display)
    match = engine_version(path, _VERSION, INSTALL_HINT, {**os.environ, "DISPLAY": display})
    return f"WebKitGTK {match.group(1)}"


def launch(path: Path | None = None, *, start_timeout_s: float = START_TIMEOUT_S) -> WebKitBrowser:
    """A virtual display for WebKit pages; each `new_page()` starts a MiniBrowser on it."""
    executable = find() if path is None else path
    screen = xvfb.Xvfb()
    try:
        return WebKitBrowser(
            executable, version(executable, screen.display), screen, start_timeout_s
        )
    except BaseException:
        screen.close()
        raise


class WebKitBrowser(Browser):
    name: EngineName = "webkit"

    def __init__(self, path: Path, version: str, screen: xvfb.Xvfb, start_timeout_s: float) -> None:
        self.path = path
        self.version = version
        self.screen = screen
        self.start_timeout_s = start_timeout_s
        self._pages: list[WebKitPage] = []
        self._closed = False

    def new_page(self) -> WebKitPage:
        if self._closed:
            raise BrowserError("this WebKit browser was closed")
        page = WebKitPage(self)
        self._pages.append(page)
        return page

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for page in self._pages:
            page.close()
        self.screen.close()


# How MiniBrowser says its inspector's port was taken, and how many ports it gets.
_PORT_IN_USE = "Address already in use"
PORT_ATTEMPTS = 3


class PortTaken(Exception):
    """The browser could not bind its inspector's port."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WebKitPage(Page):
    engine: EngineName = "webkit"

    def __init__(self, browser: WebKitBrowser) -> None:
        super().__init__()
        self.browser = browser
        self._closed = False
        self._data = Path(tempfile.mkdtemp(prefix="wbspawn-webkit-"))
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._target: str | None = None
        self._has_target = threading.Event()
        self._loaded = threading.Event()
        self._document_failed: str | None = None
        self._opening: str | None = None
        # Envelope ids (Target/Worker forwarding) -> the id of the command inside.
        self._envelopes: dict[int, int] = {}
        # The free port is only free when asked: another process may bind it before the
        # browser does, which then says so and never opens its inspector. Another port then.
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = _free_port()
            self._launch(browser, port)
            try:
                path = self._wait_for_inspector(port, browser.start_timeout_s)
                break
            except PortTaken:
                self._end_process()
                if attempt == PORT_ATTEMPTS:
                    self.close()
                    raise BrowserError(
                        f"WebKit's inspector found its port taken {PORT_ATTEMPTS} times in a row"
                    ) from None
            except BaseException:
                self.close()
                raise
        try:
            self._connection = Connection(
                f"ws://127.0.0.1:{port}{path}", self._on_message, what="WebKit's inspector"
            )
            self._connection.start()
            if not self._has_target.wait(browser.start_timeout_s):
                raise BrowserError("WebKit's inspector announced no page")
        except BaseException:
            self.close()
            raise

    def _launch(self, browser: WebKitBrowser, port: int) -> None:
        """Starts MiniBrowser with its inspector on `port`, and the reader of its stderr."""
        self._stderr.clear()
        env = {
            **os.environ,
            **PAGE_ENV,
            "DISPLAY": browser.screen.display,
            "WEBKIT_INSPECTOR_HTTP_SERVER": f"127.0.0.1:{port}",
            "XDG_DATA_HOME": str(self._data / "data"),
            "XDG_CACHE_HOME": str(self._data / "cache"),
            "XDG_CONFIG_HOME": str(self._data / "config"),
        }
        try:
            self._process = subprocess.Popen(
                [str(browser.path), "--private", "about:blank"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                start_new_session=True,  # its web and network processes end with it
            )
        except OSError as exc:
            shutil.rmtree(self._data, ignore_errors=True)
            raise BrowserError(f"cannot start {browser.path}: {exc}: {INSTALL_HINT}") from exc
        self._reader = threading.Thread(
            target=self._drain, name="wbspawn-webkit-stderr", daemon=True
        )
        self._reader.start()

    def _end_process(self) -> None:
        end_process_group(self._process, self._reader, terminate=True, grace_s=5)

    def _drain(self) -> None:
        for line in self._process.stderr or ():
            self._stderr.append(line.rstrip())

    def _wait_for_inspector(self, port: int, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if any(_PORT_IN_USE in line for line in list(self._stderr)):
                raise PortTaken(port)
            try:
                with opener.open(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    if match := _SOCKET.search(response.read().decode("utf-8", "replace")):
                        return match.group(1)
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        tail = " | ".join(list(self._stderr)[-3:]) or "no output"
        raise BrowserError(
            f"{self.browser.path} did not open its inspector within {timeout_s:g} s ({tail}): "
            f"{INSTALL_HINT}"
        )

    # --- the protocol ------------------------------------------------------------------------

    def _envelope(self, route: tuple[str, ...], message: Message) -> Message:
        """`message` for the worker at the end of `route` (page target, worker ids...), wrapped
        in one forwarding command per level."""
        for worker in reversed(route[1:]):
            wrapper_id = self._connection.next_id()
            message = {
                "id": wrapper_id,
                "method": "Worker.sendMessageToWorker",
                "params": {"workerId": worker, "message": json.dumps(message)},
            }
        envelope_id = self._connection.next_id()
        self._envelopes[envelope_id] = message["id"]
        return {
            "id": envelope_id,
            "method": "Target.sendMessageToTarget",
            "params": {"targetId": route[0], "message": json.dumps(message)},
        }

    def _post(self, route: tuple[str, ...], method: str, params: Mapping[str, Any]) -> int:
        message_id = self._connection.next_id()
        self._connection.send(
            self._envelope(route, {"id": message_id, "method": method, "params": dict(params)})
        )
        return message_id

    def command(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> Any:
        """One command to the page; its `result`, or BrowserError with WebKit's message."""
        if self._target is None:
            raise PageGone("the page has no document")
        message_id = self._connection.next_id()
        envelope = self._envelope(
            (self._target,), {"id": message_id, "method": method, "params": dict(params or {})}
        )
        answer = self._connection.call(envelope, message_id, timeout_s)
        if "error" in answer:
            text = answer["error"].get("message", "error")
            if "target" in text.lower() or "context" in text.lower():
                raise PageGone(f"WebKit: {method}: {text}")
            raise BrowserError(f"WebKit refused {method}: {text}")
        return answer.get("result", {})

    def _on_message(self, message: Message) -> None:
        # Runs on the connection's reader: a command it sends in turn (enabling a new worker's
        # domains) fails only when the connection closed (the page is closing), and then there
        # is nothing left to watch.
        with contextlib.suppress(BrowserError):
            self._on_event(message)

    def _on_event(self, message: Message) -> None:
        method = message.get("method")
        params = message.get("params", {})
        if method is None:
            # The answer to an envelope: only an error means anything (no such target).
            inner = self._envelopes.pop(message.get("id", -1), None)
            if inner is not None and "error" in message:
                self._connection.resolve(inner, {"id": inner, "error": message["error"]})
            return
        if method == "Target.targetCreated":
            info = params["targetInfo"]
            if info.get("type") == "page":
                self._watch((info["targetId"],), page=True)
                if not info.get("isProvisional"):
                    self._target = info["targetId"]
                    self._has_target.set()
        elif method == "Target.didCommitProvisionalTarget":
            self._target = params["newTargetId"]
        elif method == "Target.dispatchMessageFromTarget":
            self._on_inner((params["targetId"],), json.loads(params["message"]))

    def _watch(self, route: tuple[str, ...], *, page: bool) -> None:
        """Turns on what a page (or a worker) reports; a worker also waits for this."""
        domains = ("Console", "Worker", "Page") if page else ("Console", "Worker")
        for domain in domains:
            self._post(route, f"{domain}.enable", {})

    def _on_inner(self, route: tuple[str, ...], message: Message) -> None:
        if "id" in message:
            self._connection.resolve(message["id"], message)
            return
        method = message.get("method", "")
        params = message.get("params", {})
        if method == "Worker.dispatchMessageFromWorker":
            self._on_inner((*route, params["workerId"]), json.loads(params["message"]))
        elif method == "Worker.workerCreated":
            # The worker waits for `initialized` before its script runs: nothing it says is
            # missed.
            self._watch((*route, params["workerId"]), page=False)
            self._post(route, "Worker.initialized", {"workerId": params["workerId"]})
        elif method == "Console.messageAdded":
            self._on_console(params["message"])
        elif method == "Page.loadEventFired":
            self._loaded.set()

    def _on_console(self, entry: Message) -> None:
        level = console_level(entry.get("level"))
        source = entry.get("source", "other")
        text = entry.get("text", "")
        frames = (entry.get("stackTrace") or {}).get("callFrames") or []
        url = entry.get("url") or (frames[0].get("url") if frames else None)
        line = entry.get("line") or (frames[0].get("lineNumber") if frames else None)
        where = location(url, line or None)
        if source == "network":
            self._on_failed_load(url or "", text)
            return
        if source == "javascript" and level == "error":
            self.add_problem("uncaught", text or "uncaught error without a message", where)
            return
        self.add_console(ConsoleMessage(level, text, where))
        if level == "error":
            self.add_problem("console", text, where)

    def _on_failed_load(self, url: str, text: str) -> None:
        what = text.removeprefix("Failed to load resource: ")
        status = _STATUS.search(what)
        if status:
            what = f"{status.group(1)} {status.group(2)}"
        if browser_own(url) or "cancelled" in what.lower():
            return
        if url == self._opening and status is None:
            # No response at all: the page itself could not be loaded.
            self._document_failed = what
            self._loaded.set()
        self.add_problem("request", f"{self.short_url(url)}: {what}")

    # --- Page --------------------------------------------------------------------------------

    def _navigate(self, url: str, timeout_s: float) -> None:
        self._loaded.clear()
        self._document_failed = None
        self._opening = url
        self.command("Page.navigate", {"url": url}, timeout_s=timeout_s)
        if not self._loaded.wait(timeout_s):
            raise BrowserError(f"{url} did not finish loading within {timeout_s:g} s")
        if self._document_failed is not None:
            raise BrowserError(f"cannot load {url}: {self._document_failed}")

    def _run(self, source: str, timeout_s: float) -> object:
        evaluated = self.command(
            "Runtime.evaluate",
            {"expression": source, "objectGroup": "wbspawn", "returnByValue": False},
            timeout_s=timeout_s,
        )
        if evaluated.get("wasThrown"):
            raise ScriptError(evaluated.get("result", {}).get("description", "threw"))
        promise = evaluated.get("result", {}).get("objectId")
        try:
            settled = self.command(
                "Runtime.awaitPromise",
                {"promiseObjectId": promise, "returnByValue": True},
                timeout_s=timeout_s,
            )
        finally:
            if self._target is not None:
                self._post(
                    (self._target,), "Runtime.releaseObjectGroup", {"objectGroup": "wbspawn"}
                )
        if settled.get("wasThrown"):
            raise ScriptError(settled.get("result", {}).get("description", "rejected"))
        return settled.get("result", {}).get("value")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        connection = getattr(self, "_connection", None)
        if connection is not None:
            connection.close()
        process: subprocess.Popen[str] | None = getattr(self, "_process", None)
        if process is not None:
            reader = getattr(self, "_reader", None)
            end_process_group(process, reader, terminate=True, grace_s=5)
        shutil.rmtree(self._data, ignore_errors=True)
