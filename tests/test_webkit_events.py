"""The WebKit driver's event handling (check/webkit.py), without a browser."""

from __future__ import annotations

import json
from typing import Any

from wbspawn.check.browser import BrowserError
from wbspawn.check.webkit import WebKitPage


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
