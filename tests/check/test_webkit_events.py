"""The WebKit driver's event handling (check/webkit.py), without a browser."""

from __future__ import annotations

import collections
import json
import time
from typing import Any

import pytest

from wbspawn.check.browser import BrowserError
from wbspawn.check.webkit import PortTaken, WebKitPage, _free_port


class ClosedConnection:
    """The inspector's connection once the page is closing: every send fails."""

    def __init__(self) -> None:
        self.sent = 0
        self._id = 0

    def next_id(self) -> int:
        self._id += 1
        return self._id

    def send(self, message: dict[str, Any]) -> None:
        self.sent += 1
        raise BrowserError("WebKit's inspector closed the connection")


def test_a_worker_announced_as_the_connection_closes_is_not_an_error() -> None:
    # A worker the page starts while it closes: enabling its domains cannot be sent. The
    # handler runs on the connection's reader thread, where an exception is an unhandled one
    # (a test run's teardown error in WebKit).
    page = WebKitPage.__new__(WebKitPage)
    page._connection = ClosedConnection()  # type: ignore[assignment]
    page._envelopes = {}
    created = {"method": "Worker.workerCreated", "params": {"workerId": "worker:0.8"}}
    page._on_message(
        {
            "method": "Target.dispatchMessageFromTarget",
            "params": {"targetId": "page-15", "message": json.dumps(created)},
        }
    )
    assert page._connection.sent == 1  # type: ignore[attr-defined]


class Running:
    """A browser process that is still up."""

    def poll(self) -> None:
        return None


def test_a_taken_inspector_port_is_said_at_once() -> None:
    # The port was free when asked, and another process bound it before MiniBrowser did: the
    # page starts again on another port instead of waiting out the start timeout (a CI error).
    page = WebKitPage.__new__(WebKitPage)
    page._process = Running()  # type: ignore[assignment]
    page._stderr = collections.deque(
        [
            "** (MiniBrowser:10460): WARNING **: Failed to start remote inspector HTTP server on "
            "127.0.0.1:40065: Error binding to address 127.0.0.1:40065: Address already in use"
        ]
    )
    started = time.monotonic()
    with pytest.raises(PortTaken):
        page._wait_for_inspector(_free_port(), timeout_s=30)
    assert time.monotonic() - started < 5
