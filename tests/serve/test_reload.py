from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.typing import Origin

from conftest import Served, serving
from wbspawn.build.pipeline import BuildResult
from wbspawn.config import Config
from wbspawn.output import AppExit, OutputLine
from wbspawn.serve import reload
from wbspawn.serve.app import create_app
from wbspawn.serve.reload import Hub, Subscriber, failure_message

ORIGIN = "http://127.0.0.1:8000"
RUSTC = (
    "\x1b[1m\x1b[91merror[E0425]\x1b[0m\x1b[1m: cannot find value `x` in this scope\x1b[0m\n"
    "\x1b[1m\x1b[94m  --> \x1b[0msrc/lib.rs:3:5\n"
    "error: could not compile `demo`\n  --> src/other.rs:10:1\n  --> src/lib.rs:3:5\n"
)


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def client(
    config: Config, build_output: BuildResult, runtime_js_dir: Path, hub: Hub
) -> Iterator[TestClient]:
    app = create_app(config, build_output, hub=hub, runtime_js_dir=runtime_js_dir)
    with TestClient(app, base_url=ORIGIN) as test_client:
        yield test_client


def connect(client: TestClient, origin: str | None = ORIGIN) -> Any:
    headers = {"origin": origin} if origin else {}
    # A full URL: TestClient would address a relative one to "testserver" (not allowed).
    return client.websocket_connect(f"ws://127.0.0.1:8000{reload.WS_PATH}", headers=headers)


def test_a_client_is_told_hello_and_not_reloaded(client: TestClient, hub: Hub) -> None:
    with connect(client) as ws:
        assert ws.receive_json() == {
            "type": "hello",
            "server": hub.server_id,
            "build": 0,
            "served": f"{hub.server_id}.0",
        }
        ws.portal.call(hub.css, "/style.css")  # the next message is whatever comes next
        assert ws.receive_json() == {"type": "css", "path": "/style.css"}


def test_messages_reach_every_client(
    client: TestClient, hub: Hub, build_output: BuildResult
) -> None:
    with connect(client) as first, connect(client) as second:
        for ws in (first, second):
            ws.receive_json()  # hello
        first.portal.call(hub.building)
        first.portal.call(hub.built, build_output, ["src/lib.rs"])
        first.portal.call(hub.reload, ["index.html"])
        for ws in (first, second):
            assert ws.receive_json() == {"type": "building"}
            built = ws.receive_json()
            assert built["type"] == "reload"
            assert built["reason"] == "build"
            assert built["build"]["generation"] == 1
            assert set(built["build"]) == {
                "generation",
                "duration_s",
                "cargo_s",
                "bindgen_s",
                "stackcheck_s",
                "spliced",
            }
            assert ws.receive_json() == {
                "type": "reload",
                "reason": "change",
                "paths": ["index.html"],
            }


def test_a_failed_build_is_shown_on_connect(client: TestClient, hub: Hub) -> None:
    hub.failed("cargo build failed for demo", RUSTC)  # e.g. the first build
    with connect(client) as ws:
        assert ws.receive_json()["type"] == "hello"
        failure = ws.receive_json()
    assert failure["type"] == "build-failed"
    assert failure["message"] == "cargo build failed for demo"
    assert "error[E0425]: cannot find value `x` in this scope" in failure["diagnostics"]
    assert failure["locations"] == ["src/lib.rs:3:5", "src/other.rs:10:1"]


def test_a_running_build_is_shown_on_connect(client: TestClient, hub: Hub) -> None:
    hub.failed("cargo build failed", RUSTC)
    hub.building()
    with connect(client) as ws:
        assert [ws.receive_json()["type"] for _ in range(3)] == [
            "hello",
            "build-failed",
            "building",
        ]


def test_a_good_build_clears_the_failure(hub: Hub, build_output: BuildResult) -> None:
    hub.failed("cargo build failed", RUSTC)
    hub.building()
    hub.built(build_output)
    assert hub.state() == [
        {"type": "hello", "server": hub.server_id, "build": 1, "served": f"{hub.server_id}.1"}
    ]


@pytest.fixture
def served(
    config: Config, build_output: BuildResult, runtime_js_dir: Path, hub: Hub
) -> Iterator[Served]:
    """The app with its reload socket, on the real server (uvicorn, websockets-sansio)."""
    with serving(create_app(config, build_output, hub=hub, runtime_js_dir=runtime_js_dir)) as s:
        yield s


@pytest.mark.parametrize("origin", ["http://evil.example", "https://127.0.0.1", None])
def test_other_origins_are_refused_quietly(served: Served, hub: Hub, origin: str | None) -> None:
    """Any page the developer visits may try: the refusal must not fill their terminal."""
    with pytest.raises(InvalidStatus) as info:
        ws_connect(served.ws_url, origin=Origin(origin) if origin else None, proxy=None).close()
    assert info.value.response.status_code == 403
    served.round_trip()
    assert served.complaints() == []
    assert not hub.subscribers


def test_its_own_origin_is_accepted(served: Served, hub: Hub) -> None:
    origin = Origin(served.url.rstrip("/"))
    with ws_connect(served.ws_url, origin=origin, proxy=None) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
    served.round_trip()
    assert served.complaints() == []


@pytest.mark.parametrize(
    "origin", [None, "http://evil.example", "http://127.0.0.1:8001", "https://127.0.0.1:8000"]
)
def test_other_origins_are_refused_in_process(client: TestClient, origin: str | None) -> None:
    with pytest.raises(WebSocketDisconnect) as info:
        connect(client, origin).__enter__()
    assert info.value.code == reload.REFUSED


def test_a_client_that_falls_behind_is_closed(client: TestClient, hub: Hub) -> None:
    with connect(client) as ws:
        ws.receive_json()  # hello

        def flood() -> None:
            for _ in range(reload.BACKLOG + 1):
                hub.css("/style.css")

        ws.portal.call(flood)
        # Everything that fitted arrives, then the close that makes it reconnect.
        with pytest.raises(WebSocketDisconnect) as info:
            while True:
                ws.receive_json()
    assert info.value.code == 1013


def test_clients_unsubscribe_when_they_leave(client: TestClient, hub: Hub) -> None:
    with connect(client) as ws:
        ws.receive_json()
        assert len(hub.subscribers) == 1
    hub.css("/x.css")  # must not fail for the gone client
    client.get("/")  # a round trip: the endpoint has finished
    assert not hub.subscribers


def test_failure_message_html_is_escaped_and_coloured() -> None:
    message = failure_message("failed", "\x1b[31m<img src=x onerror=alert(1)>\x1b[0m")
    assert message["html"].startswith('<span class="ansi-fg-1">&lt;img src=x')
    assert message["diagnostics"] == "<img src=x onerror=alert(1)>\nwbspawn: failed"
    assert message["locations"] == []


def test_without_a_hub_there_is_no_socket(
    config: Config, build_output: BuildResult, runtime_js_dir: Path
) -> None:
    client = TestClient(
        create_app(config, build_output, runtime_js_dir=runtime_js_dir), base_url=ORIGIN
    )
    with pytest.raises(WebSocketDisconnect):
        connect(client).__enter__()


# --- what pages report: the app's output and its exit ------------------------------------------


def test_what_a_page_reports_reaches_the_hubs_listener(
    config: Config, build_output: BuildResult, runtime_js_dir: Path
) -> None:
    heard: list[reload.PageReport] = []
    hub = Hub(on_page=heard.append)
    app = create_app(config, build_output, hub=hub, runtime_js_dir=runtime_js_dir)
    with TestClient(app, base_url=ORIGIN) as test_client, connect(test_client) as ws:
        assert ws.receive_json()["type"] == "hello"
        lines = [{"stream": "stderr", "thread": "printer-1", "text": "done"}]
        ws.send_text(json.dumps({"type": "output", "lines": lines}))
        ws.send_text("not json at all")
        ws.send_text(json.dumps({"type": "exit", "code": 3, "aborted": False}))
        # One more round trip: the server has read everything sent before it.
        ws.portal.call(hub.css, "/style.css")
        assert ws.receive_json()["type"] == "css"
    assert heard == [[OutputLine("stderr", "printer-1", "done")], AppExit(3, False)]


@pytest.mark.parametrize(
    "raw",
    [
        "[]",
        '{"type": "output"}',
        '{"type": "output", "lines": "x"}',
        '{"type": "exit", "code": "3", "aborted": false}',
        '{"type": "exit", "code": true, "aborted": false}',
        '{"type": "hello"}',
        '{"type": "output", "lines": ['
        + '{"stream":"stdout","thread":"m","text":"x"},' * 200_000
        + "{}]}",
    ],
)
def test_a_malformed_or_oversized_page_report_is_ignored(raw: str) -> None:
    assert reload.parse_page_message(raw) is None


def test_a_page_report_keeps_only_well_formed_lines() -> None:
    raw = json.dumps(
        {
            "type": "output",
            "lines": [
                {"stream": "stdout", "thread": "main", "text": "kept"},
                {"stream": "stdin", "thread": "main", "text": "no such stream"},
                {"stream": "stdout", "thread": 1, "text": "a number for a name"},
                "not a line",
            ],
        }
    )
    assert reload.parse_page_message(raw) == [OutputLine("stdout", "main", "kept")]


def test_an_early_reload_makes_pages_served_before_it_stale_and_its_build_reloads_none(
    build_output: BuildResult,
) -> None:
    hub = Hub()
    subscriber = Subscriber()
    hub.subscribers.add(subscriber)
    before = hub.served()
    hub.building()
    hub.reload_for_build()
    during = hub.served()
    assert during != before  # a page served before the reload reloads when it connects
    hub.built(build_output, reload=False)
    assert hub.served() == during  # the pages that reloaded and waited are current
    assert hub.generation == 1
    messages = list(subscriber.pending)
    assert [m["type"] for m in messages] == ["building", "reload", "built"]
    assert messages[1] == {"type": "reload", "reason": "building", "paths": []}
    assert messages[2]["build"]["generation"] == 1
