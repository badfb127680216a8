from __future__ import annotations

import socket
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.typing import Origin

from conftest import serving
from wbspawn.build.pipeline import BuildResult
from wbspawn.config import Config
from wbspawn.serve.app import create_app
from wbspawn.serve.hosts import allowed_hosts, host_name, is_allowed
from wbspawn.serve.reload import REFUSED, Hub


def test_default_allow_list(tmp_path: Path) -> None:
    assert allowed_hosts(Config(app_dir=tmp_path)) == ("localhost", "127.0.0.1", "[::1]")


def test_bound_host_and_additions_are_allowed(tmp_path: Path) -> None:
    config = Config(app_dir=tmp_path, host="192.168.1.5", allowed_hosts=("dev.test", ".lan"))
    assert allowed_hosts(config) == (
        "localhost",
        "127.0.0.1",
        "[::1]",
        "192.168.1.5",
        "dev.test",
        ".lan",
    )


def test_wildcard_bind_is_not_a_host_name(tmp_path: Path) -> None:
    assert "0.0.0.0" not in allowed_hosts(Config(app_dir=tmp_path, host="0.0.0.0"))
    assert allowed_hosts(Config(app_dir=tmp_path, host="::1"))[-1] == "[::1]"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8000", "localhost"),
        ("LOCALHOST", "localhost"),
        ("[::1]:8000", "[::1]"),
        ("[::1]", "[::1]"),
        ("127.0.0.1", "127.0.0.1"),
        ("my-host.example:65535", "my-host.example"),
    ],
)
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


# Not a host, nor a host and a numeric port: no name is read from these.
MALFORMED = [
    "localhost:1@evil.com",
    "[::1]evil.com",
    "[::1]:evil.com",
    "localhost:evil.com",
    "localhost:",
    "localhost:8000:8000",
    "::1",
    "[::1",
    "evil.com/.lan",
    "local host",
    "",
]


@pytest.mark.parametrize("header", MALFORMED)
def test_host_name_of_a_malformed_host(header: str) -> None:
    assert host_name(header) is None


def test_subdomain_entries() -> None:
    assert is_allowed("a.lan", [".lan"])
    assert is_allowed("lan", [".lan"])
    assert not is_allowed("evillan", [".lan"])
    assert not is_allowed("localhost.evil.test", ["localhost"])


@pytest.fixture
def hub_client(config: Config, build_output: BuildResult, runtime_js_dir: Path) -> TestClient:
    app = create_app(config, build_output, hub=Hub(), runtime_js_dir=runtime_js_dir)
    return TestClient(app, base_url="http://localhost:8000")


@pytest.mark.parametrize(
    "host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "localhost", "LocalHost:1"]
)
def test_allowed_hosts_are_answered(hub_client: TestClient, host: str) -> None:
    assert hub_client.get("/pkg/demo.js", headers={"host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.2"]
)
def test_other_hosts_get_400(hub_client: TestClient, host: str) -> None:
    response = hub_client.get("/pkg/demo.js", headers={"host": host})
    assert response.status_code == 400
    assert f"--allowed-host {host.split(':')[0]} " in response.text
    assert "export default" not in response.text
    assert response.headers["cross-origin-embedder-policy"] == "require-corp"


@pytest.mark.parametrize("host", MALFORMED)
def test_malformed_hosts_get_400(hub_client: TestClient, host: str) -> None:
    response = hub_client.get("/pkg/demo.js", headers={"host": host})
    assert response.status_code == 400
    # Nothing to allow: no `--allowed-host :` for `Host: ::1`.
    assert "--allowed-host" not in response.text
    assert "a host, or a host and a port" in response.text
    assert response.headers["cross-origin-embedder-policy"] == "require-corp"


def test_websocket_with_another_host_is_refused_quietly(
    config: Config, build_output: BuildResult, runtime_js_dir: Path
) -> None:
    """DNS rebinding: evil.example resolves to the server; its socket must not get in, nor
    put an error in the developer's terminal."""
    app = create_app(config, build_output, hub=Hub(), runtime_js_dir=runtime_js_dir)
    with serving(app) as served:
        host, port = served.url.removeprefix("http://").rstrip("/").split(":")
        with (
            socket.create_connection((host, int(port)), timeout=30) as sock,
            pytest.raises(InvalidStatus) as info,
        ):
            ws_connect(
                f"ws://evil.example:{port}/_wbspawn/ws",
                sock=sock,
                origin=Origin(f"http://evil.example:{port}"),
                proxy=None,
            ).close()
        served.round_trip()
    assert served.complaints() == []
    assert info.value.response.status_code == 403


@pytest.mark.parametrize("host", ["localhost:1@evil.com", "[::1]evil.com", "localhost:evil.com"])
def test_websocket_with_a_malformed_host_is_refused(
    config: Config, build_output: BuildResult, runtime_js_dir: Path, host: str
) -> None:
    """Its Origin matches its Host, so only the Host check stands in the way."""
    handshake = (
        "GET /_wbspawn/ws HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"Origin: http://{host}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    app = create_app(config, build_output, hub=Hub(), runtime_js_dir=runtime_js_dir)
    with serving(app) as served:
        port = int(served.url.rstrip("/").rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(handshake.encode())
            status_line = sock.makefile("rb").readline()
        served.round_trip()
    assert served.complaints() == []
    assert status_line.split()[1] == b"403"


def test_websocket_with_another_host_is_refused_in_process(hub_client: TestClient) -> None:
    headers = {"host": "evil.example:8000", "origin": "http://evil.example:8000"}
    with pytest.raises(WebSocketDisconnect) as info:
        hub_client.websocket_connect("/_wbspawn/ws", headers=headers).__enter__()
    assert info.value.code == REFUSED


def test_allowed_host_option(
    crate_dir: Path, cache_dir: Path, build_output: BuildResult, runtime_js_dir: Path
) -> None:
    config = Config(app_dir=crate_dir, cache_dir=cache_dir, allowed_hosts=("dev.test",))
    client = TestClient(create_app(config, build_output, runtime_js_dir=runtime_js_dir))
    assert client.get("/pkg/demo.js", headers={"host": "dev.test:8000"}).status_code == 200
    assert client.get("/pkg/demo.js", headers={"host": "x.dev.test"}).status_code == 400
