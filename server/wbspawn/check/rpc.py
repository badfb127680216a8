"""JSON commands and events over one websocket, for the engines driven by a protocol of
their own (Firefox's WebDriver BiDi, WebKit's inspector).

Once `start()`ed, a reader thread takes every message as it comes and hands it to the
engine's handler, on that thread; the handler passes an answer to `resolve`, which wakes the
command waiting for its id (engines may nest ids inside other messages, so they route answers
themselves). Commands may be sent from any thread, the handler's included.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from wbspawn.check.browser import BrowserError

Message = dict[str, Any]


class Connection:
    def __init__(
        self,
        url: str,
        on_message: Callable[[Message], None],
        *,
        what: str,
        open_timeout_s: float = 30.0,
    ) -> None:
        self.what = what
        self._on_message = on_message
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[Message]] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._closed: str | None = None
        # Entered as a context (closed by `close`): websockets warns about a bare connect().
        self._stack = contextlib.ExitStack()
        try:
            self._socket: ClientConnection = self._stack.enter_context(
                connect(url, max_size=None, open_timeout=open_timeout_s, close_timeout=2)
            )
        except (OSError, TimeoutError) as exc:
            raise BrowserError(f"cannot connect to {what} at {url}: {exc}") from exc
        self._reader = threading.Thread(target=self._read, name=f"wbspawn-{what}", daemon=True)

    def start(self) -> None:
        """Starts reading: after the engine can take messages (its handler may send)."""
        self._reader.start()

    def next_id(self) -> int:
        return next(self._ids)

    def expect(self, message_id: int) -> Future[Message]:
        """A future for the answer with this id; `resolve` fulfils it."""
        future: Future[Message] = Future()
        with self._lock:
            if self._closed is not None:
                future.set_exception(BrowserError(self._closed))
            else:
                self._pending[message_id] = future
        return future

    def resolve(self, message_id: int, answer: Message) -> bool:
        with self._lock:
            future = self._pending.pop(message_id, None)
        if future is None:
            return False
        future.set_result(answer)
        return True

    def send(self, message: Message) -> None:
        try:
            with self._send_lock:
                self._socket.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise BrowserError(f"{self.what} closed the connection") from exc

    def call(self, message: Message, message_id: int, timeout_s: float) -> Message:
        """Sends `message` and waits for the answer `resolve` gets for `message_id`."""
        future = self.expect(message_id)
        self.send(message)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            with self._lock:
                self._pending.pop(message_id, None)
            method = message.get("method", "a command")
            raise BrowserError(
                f"{self.what} did not answer {method} within {timeout_s:g} s"
            ) from None

    def close(self) -> None:
        self._fail_all(f"{self.what} connection closed")
        self._stack.close()

    def _read(self) -> None:
        try:
            for text in self._socket:
                try:
                    self._on_message(json.loads(text))
                except Exception as exc:  # a bug here must not hang every later command
                    self._fail_all(f"wbspawn could not handle a message from {self.what}: {exc!r}")
                    raise
        except ConnectionClosed:
            pass
        finally:
            self._fail_all(f"{self.what} went away (did the browser crash or quit?)")

    def _fail_all(self, why: str) -> None:
        with self._lock:
            if self._closed is None:
                self._closed = why
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(BrowserError(why))
