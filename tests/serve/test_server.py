from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from wbspawn.build.pipeline import BuildResult
from wbspawn.config import Config
from wbspawn.errors import WbspawnError
from wbspawn.serve.app import create_app
from wbspawn.serve.server import bind_socket, running, url_for

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def test_bind_socket_refuses_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(WbspawnError) as info:
            bind_socket("127.0.0.1", port)
    assert str(info.value) == f"port {port} on 127.0.0.1 is in use: pass --port N"


def test_url_for_wildcard_host_is_openable() -> None:
    with bind_socket("0.0.0.0", 0) as sock:
        assert url_for("0.0.0.0", sock) == f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_running_serves_in_a_thread(
    config: Config, build_output: BuildResult, runtime_js_dir: Path
) -> None:
    app = create_app(config, build_output, runtime_js_dir=runtime_js_dir)
    with running(app) as url, NO_PROXY.open(url + "pkg/demo_bg.wasm", timeout=10) as response:
        assert response.headers["Content-Type"] == "application/wasm"
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    with pytest.raises(OSError):
        NO_PROXY.open(url, timeout=2)  # stopped
