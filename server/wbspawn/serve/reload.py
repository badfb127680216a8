"""The reload channel: one websocket at /_wbspawn/ws, and the state it reports.

The dev loop publishes to a Hub; each socket subscribes with its own small buffer, so a slow
or stuck browser tab never blocks the watcher or the builds (one that falls too far behind is
closed, reconnects, and is told the current state). Messages are JSON objects tagged by
"type" (docs/dev-server.md lists them):

    hello         {"server": id, "build": n, "served": state}  first on every connection
    building      a build started
    reload        reload the page: {"reason": "building"} as a quick build starts (its
                  output is held until it ends: rebuild.py), "build" after a good build
                  (with "build": its timings) the pages did not reload for, "change" for a
                  changed HTML/JS file; "paths": what changed
    built         {"build": timings}: a good build the pages already reloaded for
    css           {"path": "/style.css"}: swap that stylesheet in place
    build-failed  {"message", "diagnostics", "html", "locations"}: rustc's errors

Clients send one kind of message: what the app printed, for the terminal the server runs in
(the page's runtime takes it from the app's threads; docs/std-threads.md):

    output        {"lines": [{"stream": "stdout" | "stderr", "thread": name, "text": line}]}
    exit          {"code": n, "aborted": bool}: the program ended (process::exit, abort)

A connecting client gets `hello` and then the current state (`build-failed` if the last
build failed, `building` if one runs), never a `reload`: connecting is not a reason to
reload. `hello.served` names the state pages are served in now (this server, and how many
reloads it has announced); every page is served with the state it got (inject.py), and the
client reloads when a `hello` names another: the server restarted, or a build or a change was
announced while the page was loading or disconnected.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

from starlette.websockets import WebSocket, WebSocketDisconnect

from wbspawn import ansi
from wbspawn.build.pipeline import BuildResult
from wbspawn.output import AppExit, OutputLine

WS_PATH = "/_wbspawn/ws"

# Messages a subscriber may have waiting before it counts as stuck.
BACKLOG = 64

# rustc's location lines: "  --> src/lib.rs:12:5".
_LOCATION = re.compile(r"^\s*--> (.+:\d+:\d+)\s*$", re.MULTILINE)

Message = dict[str, Any]

# What one message from a page may carry: a runaway program's output is cut, not buffered.
MAX_CLIENT_MESSAGE = 1 << 20
MAX_LINES = 10_000


PageReport = list[OutputLine] | AppExit


def parse_page_message(raw: str) -> PageReport | None:
    """A page's `output` or `exit` message; None for anything else (ignored: a newer or
    broken client must not stop the server)."""
    if len(raw) > MAX_CLIENT_MESSAGE:
        return None
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if message.get("type") == "exit":
        code, aborted = message.get("code"), message.get("aborted")
        if isinstance(code, int) and not isinstance(code, bool) and isinstance(aborted, bool):
            return AppExit(code, aborted)
        return None
    if message.get("type") != "output" or not isinstance(message.get("lines"), list):
        return None
    lines: list[OutputLine] = []
    for line in message["lines"][:MAX_LINES]:
        if not isinstance(line, dict):
            continue
        stream, thread, text = line.get("stream"), line.get("thread"), line.get("text")
        if stream in ("stdout", "stderr") and isinstance(thread, str) and isinstance(text, str):
            lines.append(OutputLine(stream, thread, text))
    return lines


def failure_message(message: str, diagnostics: str) -> Message:
    """`build-failed` for a failed build: rustc's text, as plain text and as coloured HTML."""
    text = "\n".join(part for part in (diagnostics.rstrip(), f"wbspawn: {message}") if part)
    plain = ansi.plain(text)
    return {
        "type": "build-failed",
        "message": message,
        "diagnostics": plain,
        "html": ansi.to_html(text),
        "locations": list(dict.fromkeys(_LOCATION.findall(plain))),
    }


class Subscriber:
    def __init__(self) -> None:
        self.pending: deque[Message] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False

    def push(self, message: Message) -> None:
        if len(self.pending) >= BACKLOG:
            self.overflowed = True
        else:
            self.pending.append(message)
        self.ready.set()


class Hub:
    """The dev loop's state, and its fan-out to every connected browser.

    Methods are called on the event loop's thread (the first build runs there too).
    """

    def __init__(self, on_page: Callable[[PageReport], None] | None = None) -> None:
        # Where what a page reports (the app's output, its exit) goes: the terminal.
        self.on_page = on_page
        self.server_id = uuid.uuid4().hex
        self.generation = 0  # good builds so far: what the pages are running
        self.reloads = 0  # reloads announced so far, for builds and for changed files
        self.building_now = False
        self.failure: Message | None = None
        self.subscribers: set[Subscriber] = set()

    # --- publishing ---------------------------------------------------------------------

    def publish(self, message: Message) -> None:
        for subscriber in list(self.subscribers):
            subscriber.push(message)

    def building(self) -> None:
        self.building_now = True
        self.publish({"type": "building"})

    def reload_for_build(self) -> None:
        """The pages reload now, as a build starts; its output waits for them (rebuild.py)."""
        self.reloads += 1
        self.publish({"type": "reload", "reason": "building", "paths": []})

    def built(
        self, result: BuildResult, changed: Sequence[str] = (), *, reload: bool = True
    ) -> None:
        """A good build; `reload`: the pages have not reloaded for it yet."""
        self.building_now = False
        self.failure = None
        self.generation += 1
        timings = {
            "generation": self.generation,
            "duration_s": round(result.duration_s, 3),
            "cargo_s": round(result.cargo_s, 3),
            "bindgen_s": round(result.bindgen_s, 3),
            "stackcheck_s": round(result.stackcheck_s, 3),
            "spliced": result.spliced,
        }
        if not reload:
            self.publish({"type": "built", "build": timings})
            return
        self.reloads += 1
        self.publish(
            {"type": "reload", "reason": "build", "paths": list(changed), "build": timings}
        )

    def failed(self, message: str, diagnostics: str) -> None:
        self.building_now = False
        self.failure = failure_message(message, diagnostics)
        self.publish(self.failure)

    def reload(self, paths: Sequence[str]) -> None:
        self.reloads += 1
        self.publish({"type": "reload", "reason": "change", "paths": list(paths)})

    def css(self, path: str) -> None:
        self.publish({"type": "css", "path": path})

    def served(self) -> str:
        """The state a page served now is in: a page served in another one is stale."""
        return f"{self.server_id}.{self.reloads}"

    def state(self) -> list[Message]:
        """What a client that connects now is told."""
        messages: list[Message] = [
            {
                "type": "hello",
                "server": self.server_id,
                "build": self.generation,
                "served": self.served(),
            }
        ]
        if self.failure is not None:
            messages.append(self.failure)
        if self.building_now:
            messages.append({"type": "building"})
        return messages

    # --- the websocket ------------------------------------------------------------------

    async def websocket(self, websocket: WebSocket) -> None:
        if not same_origin(websocket):
            # Cross-site websocket hijacking: any page may open a socket to localhost, and
            # browsers do not apply CORS to it. Only our own pages are answered.
            await refuse(websocket)
            return
        await websocket.accept()
        subscriber = Subscriber()
        # Subscribed before the state is taken: nothing published in between is lost.
        self.subscribers.add(subscriber)
        pump = asyncio.create_task(self._pump(websocket, subscriber, self.state()))
        try:
            while True:
                # Receiving is also how a disconnect is noticed.
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is not None and self.on_page is not None:
                    report = parse_page_message(text)
                    if report is not None:
                        self.on_page(report)
        finally:
            self.subscribers.discard(subscriber)
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    async def _pump(
        self, websocket: WebSocket, subscriber: Subscriber, first: list[Message]
    ) -> None:
        try:
            for message in first:
                await websocket.send_json(message)
            while True:
                await subscriber.ready.wait()
                subscriber.ready.clear()
                if subscriber.overflowed:
                    # 1013 "try again later": the client reconnects and gets the state.
                    await websocket.close(code=1013)
                    return
                while subscriber.pending:
                    await websocket.send_json(subscriber.pending.popleft())
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client went away mid-send


def same_origin(websocket: WebSocket) -> bool:
    """Whether the Origin header is the origin this request was addressed to."""
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    if not origin or not host:
        return False
    scheme = "https" if websocket.url.scheme in ("wss", "https") else "http"
    return origin.lower() == f"{scheme}://{host}".lower()


# How a websocket is refused (here and in hosts.py): closed with 1008 (policy violation)
# before the handshake, which ASGI servers answer with a 403 and log, if at all, as an access
# line. Not with a denial response (the `websocket.http.response` extension), which could
# carry a text: uvicorn's websockets-sansio protocol (0.54) logs an ERROR, "ASGI callable
# returned without completing handshake", after each one, and any web page the developer
# visits could fill the terminal with them. A browser shows the page nothing of a refused
# handshake anyway.
REFUSED: Final = 1008


async def refuse(websocket: WebSocket) -> None:
    await websocket.close(code=REFUSED)
