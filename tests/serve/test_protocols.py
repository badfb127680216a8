"""What uvicorn answers on its own, before or without the app (serve/protocols.py): requests
it cannot parse, heads that never end, malformed bodies and websocket messages. Each test
talks to a real server over a raw socket, as such clients do."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.typing import Origin

from conftest import Served, serving
from dists import make_dist
from wbspawn.build.pipeline import BuildResult
from wbspawn.config import Config
from wbspawn.serve.app import create_app
from wbspawn.serve.headers import response_headers
from wbspawn.serve.reload import Hub
from wbspawn.ship import hosting
from wbspawn.ship.preview import preview_app


@pytest.fixture
def served(config: Config, build_output: BuildResult, runtime_js_dir: Path) -> Iterator[Served]:
    """The dev server, with the reload websocket, on a real uvicorn."""
    app = create_app(config, build_output, hub=Hub(), runtime_js_dir=runtime_js_dir)
    with serving(app) as server:
        yield server


def address(served: Served) -> tuple[str, int]:
    host, port = served.url.removeprefix("http://").rstrip("/").split(":")
    return host, int(port)


def exchange(served: Served, request: bytes) -> bytes:
    """Sends `request` as it is and reads until the server closes the connection."""
    with socket.create_connection(address(served), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_and_headers(response: bytes) -> tuple[int, dict[str, str]]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), {k.lower(): v for k, v in headers.items()}


def assert_said_at_most_one_line(served: Served) -> None:
    """No traceback and no ERROR in the terminal: one warning line at most."""
    served.round_trip()
    assert all(r.exc_info is None and r.levelno < logging.ERROR for r in served.records)
    assert len(served.complaints()) <= 1


UNPARSABLE = {
    "no Host": b"GET / HTTP/1.1\r\n\r\n",
    "two Hosts": b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n",
    "a bad request line": b"GET /\r\nHost: localhost\r\n\r\n",
    "a 1 MB header": b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: "
    + b"x" * 1_000_000
    + b"\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", UNPARSABLE.values(), ids=UNPARSABLE.keys())
def test_a_request_uvicorn_refuses_carries_every_header(
    served: Served, config: Config, request_bytes: bytes
) -> None:
    status, headers = status_and_headers(exchange(served, request_bytes))
    assert status == 400
    for name, value in response_headers(config).items():
        assert headers.get(name.lower()) == value, name
    assert_said_at_most_one_line(served)


def test_preview_refusals_carry_the_dist_headers(tmp_path: Path) -> None:
    rules = hosting.rules_for("credentialless", [("X-Frame-Options", "DENY")], ["index.html"])
    with serving(preview_app(make_dist(tmp_path / "dist", rules))) as served:
        status, headers = status_and_headers(exchange(served, UNPARSABLE["no Host"]))
    assert status == 400
    for name, value in rules.headers:
        assert headers.get(name.lower()) == value, name


def test_a_malformed_chunked_body_is_a_400_and_at_most_a_line(served: Served) -> None:
    """The app answers the request while h11 finds its body malformed: the 400 goes out, the
    app's answer is dropped (it failed in h11 with a 60-line traceback)."""
    request = (
        b"GET /_wbspawn/app.json HTTP/1.1\r\nHost: localhost\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nnot-a-size\r\nhello\r\n0\r\n\r\n"
    )
    status, headers = status_and_headers(exchange(served, request))
    assert status == 400
    assert headers["cross-origin-embedder-policy"] == "require-corp"
    assert_said_at_most_one_line(served)


def open_websocket(served: Served) -> socket.socket:
    """A raw socket past the reload websocket's handshake."""
    host, port = address(served)
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(
        f"GET /_wbspawn/ws HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: http://{host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_text_message_that_is_not_utf8_is_closed_with_1007_and_a_line(served: Served) -> None:
    with open_websocket(served) as sock:
        payload, mask = b"\xff\xfe", b"\x01\x02\x03\x04"
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    # The server's close frame, after whatever it sent before (hello): opcode 8, code 1007.
    assert b"\x88\x02\x03\xef" in received
    assert_said_at_most_one_line(served)


def test_a_refused_websocket_carries_every_header(served: Served, config: Config) -> None:
    host, port = address(served)
    with pytest.raises(InvalidStatus) as info:
        ws_connect(
            f"ws://{host}:{port}/_wbspawn/ws", origin=Origin("http://evil.example"), proxy=None
        ).close()
    response = info.value.response
    assert response.status_code == 403
    for name, value in response_headers(config).items():
        assert response.headers.get(name) == value, name


# --- a request's head must arrive within the header timeout ----------------------------------

TIMEOUT_S = 0.5


@pytest.fixture
def impatient(config: Config, build_output: BuildResult, runtime_js_dir: Path) -> Iterator[Served]:
    """The dev server with a header timeout of half a second."""
    app = create_app(config, build_output, hub=Hub(), runtime_js_dir=runtime_js_dir)
    with serving(app, header_timeout=TIMEOUT_S) as server:
        yield server


def seconds_until_closed(sock: socket.socket) -> float:
    """How long the server takes to close `sock`, reading (and dropping) what it sends."""
    started = time.monotonic()
    sock.settimeout(30)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - started


HALF_A_REQUEST = b"GET /pkg/demo.js HTTP/1.1\r\nHost: local"


@pytest.mark.parametrize("sent", [b"", HALF_A_REQUEST], ids=["nothing", "half a request"])
def test_a_head_that_never_ends_is_closed(impatient: Served, sent: bytes) -> None:
    with socket.create_connection(address(impatient), timeout=30) as sock:
        sock.sendall(sent)
        assert TIMEOUT_S * 0.8 < seconds_until_closed(sock) < TIMEOUT_S + 5
    assert_said_at_most_one_line(impatient)


def test_a_kept_alive_connection_gets_the_same_time_for_its_next_head(impatient: Served) -> None:
    with socket.create_connection(address(impatient), timeout=30) as sock:
        sock.sendall(b"GET /pkg/demo.js HTTP/1.1\r\nHost: localhost\r\n\r\n")
        first = b""
        while b"export default" not in first:
            first += sock.recv(65536)
        sock.sendall(HALF_A_REQUEST)
        assert seconds_until_closed(sock) < TIMEOUT_S + 5


def test_slow_but_whole_heads_and_websockets_outlive_the_header_timeout(
    impatient: Served,
) -> None:
    with socket.create_connection(address(impatient), timeout=30) as sock:
        sock.sendall(HALF_A_REQUEST)
        time.sleep(TIMEOUT_S / 2)
        sock.sendall(b"host\r\n\r\n")
        status, _ = status_and_headers(sock.recv(65536))
        assert status == 200
    with ws_connect(impatient.ws_url, origin=Origin(impatient.url.rstrip("/")), proxy=None) as ws:
        assert '"hello"' in str(ws.recv(timeout=30))
        time.sleep(TIMEOUT_S * 3)
        assert ws.ping().wait(30)
