"""The dev loop end to end: a real `wbspawn serve` process on a free port (with the fake
cargo and wasm-bindgen: builds take milliseconds), a real websockets client, real files."""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from conftest import CargoChild, FakeTools, wait_gone
from devserver import (
    DevServer,
    good_build,
    of_type,
    receive,
    receive_until,
    types,
    wait_until_watching,
)

GOOD_RUST = "pub fn answer() -> u32 { 42 }\n"
BROKEN_RUST = "pub fn answer() -> u32 { COMPILE_ERROR }\n"


@pytest.fixture
def app(crate_dir: Path) -> Path:
    (crate_dir / "src" / "lib.rs").write_text(GOOD_RUST)
    (crate_dir / "index.html").write_text("<html><head></head><body>v1</body></html>")
    (crate_dir / "style.css").write_text("body { color: black }")
    return crate_dir


@pytest.fixture
def server(app: Path, fake_tools: FakeTools) -> Iterator[DevServer]:
    dev = DevServer(app, env=fake_tools.env)
    yield dev
    dev.stop()


def cargo_builds(tools: FakeTools) -> int:
    if not tools.cargo_log.exists():
        return 0
    calls = [json.loads(line) for line in tools.cargo_log.read_text().splitlines()]
    return sum(1 for call in calls if call["args"][:1] == ["build"])


def http_get(server: DevServer, path: str, host: str | None = None) -> http.client.HTTPResponse:
    """GET with the path sent exactly as written (no client-side normalisation)."""
    netloc = server.origin.removeprefix("http://")
    connection = http.client.HTTPConnection(netloc, timeout=30)
    connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", host if host is not None else netloc)
    connection.endheaders()
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_a_client_is_told_the_state_and_not_reloaded(server: DevServer) -> None:
    with server.socket() as ws:
        hello = receive(ws)
        assert hello["type"] == "hello"
        assert hello["build"] == 1  # the first build
        ws.ping().wait(10)  # nothing else was queued before this round trip
        with pytest.raises(TimeoutError):
            receive(ws, timeout=0.3)


def test_html_edit_reloads_without_a_build(
    server: DevServer, app: Path, fake_tools: FakeTools
) -> None:
    with server.socket() as ws:
        receive(ws)
        wait_until_watching(ws, app)
        builds = cargo_builds(fake_tools)
        (app / "index.html").write_text("<html><head></head><body>v2</body></html>")
        seen = receive_until(ws, lambda m: m["type"] == "reload" and "index.html" in m["paths"])
    assert "building" not in types(seen)
    assert seen[-1]["reason"] == "change"
    assert cargo_builds(fake_tools) == builds


def test_css_edit_swaps_the_stylesheet(server: DevServer, app: Path) -> None:
    with server.socket() as ws:
        receive(ws)
        wait_until_watching(ws, app)
        (app / "style.css").write_text("body { color: red }")
        seen = receive_until(ws, of_type("css"))
    assert seen[-1] == {"type": "css", "path": "/style.css"}
    assert "reload" not in types(seen)


def test_rust_edit_rebuilds_then_reloads(
    server: DevServer, app: Path, fake_tools: FakeTools
) -> None:
    with server.socket() as ws:
        receive(ws)
        wait_until_watching(ws, app)
        builds = cargo_builds(fake_tools)
        (app / "src" / "lib.rs").write_text("pub fn answer() -> u32 { 43 }\n")
        seen = receive_until(ws, good_build)
    # After a good build the page reloads as the next one starts, then learns that
    # the build it waited for is done.
    assert types(seen) == ["building", "reload", "built"]
    assert seen[1]["reason"] == "building"
    assert seen[-1]["build"]["generation"] == 2
    assert cargo_builds(fake_tools) == builds + 1
    server.wait_for_line(r"src/lib\.rs changed: rebuilding")
    server.wait_for_line(r"built demo in [\d.]+ s")


def edit_at_the_gate(ws: ClientConnection, app: Path, gate: Path, answer: str) -> None:
    """A Rust edit whose build waits at `gate` (gated_server), once the page was told to
    reload as it started."""
    receive(ws)
    wait_until_watching(ws, app)
    gate.touch()
    (app / "src" / "lib.rs").write_text(f"pub fn answer() -> u32 {{ {answer} }}\n")
    receive_until(ws, lambda m: m["type"] == "reload" and m["reason"] == "building")


def test_a_page_that_reloaded_as_the_build_started_gets_its_output_when_it_ends(
    gated_server: DevServer, app: Path, tmp_path: Path
) -> None:
    server = gated_server
    with server.socket() as ws:
        edit_at_the_gate(ws, app, tmp_path / "gate", "43")
        with concurrent.futures.ThreadPoolExecutor() as pool:
            glue = pool.submit(http_get, server, "/pkg/demo.js")
            page = http_get(server, "/")  # the page itself comes at once
            assert page.status == 200
            time.sleep(0.5)
            assert not glue.done()  # the build's output waits for the build
            (tmp_path / "gate").unlink()
            assert glue.result(timeout=60).status == 200
        seen = receive_until(ws, good_build)
    assert types(seen) == ["built"]


def test_cargo_metadata_is_asked_again_only_after_a_manifest_change(
    server: DevServer, app: Path, fake_tools: FakeTools
) -> None:
    def crate_lookups() -> int:
        calls = [json.loads(line) for line in fake_tools.cargo_log.read_text().splitlines()]
        return sum(
            1
            for call in calls
            if call["args"][:2] == ["metadata", "--format-version"] and "--no-deps" in call["args"]
        )

    def rebuild(ws: ClientConnection) -> None:
        receive_until(ws, good_build)

    with server.socket() as ws:
        receive(ws)
        wait_until_watching(ws, app)
        assert crate_lookups() == 1  # the first build
        (app / "src" / "lib.rs").write_text("pub fn answer() -> u32 { 7 }\n")
        rebuild(ws)
        assert crate_lookups() == 1
        manifest = app / "Cargo.toml"
        manifest.write_text(manifest.read_text() + "\n# edited\n")
        rebuild(ws)
        assert crate_lookups() == 2


def test_a_broken_build_shows_its_errors_and_keeps_the_last_good_one(
    server: DevServer, app: Path
) -> None:
    with server.socket() as ws:
        receive(ws)
        wait_until_watching(ws, app)
        (app / "src" / "lib.rs").write_text(BROKEN_RUST)
        seen = receive_until(ws, of_type("build-failed"))
        failure = seen[-1]
        assert "error[E0425]: cannot find value `x` in this scope" in failure["diagnostics"]
        assert failure["locations"] == ["src/lib.rs:1:1"]
        assert 'class="ansi-b ansi-fg-9"' in failure["html"]  # rustc's colours
        # The last good build is still what is served.
        assert http_get(server, "/pkg/demo.js").status == 200
        assert http_get(server, "/_wbspawn/app.json").status == 200

        # A page (re)loaded now sees the errors at once.
        with server.socket() as late:
            assert types([receive(late), receive(late)]) == ["hello", "build-failed"]

        (app / "src" / "lib.rs").write_text(GOOD_RUST)
        seen = receive_until(ws, good_build)
    # After a failed build the page kept running (the overlay over it): it reloads now.
    assert types(seen) == ["building", "reload"]
    with server.socket() as fresh:
        assert receive(fresh)["build"] == 2
        fresh.ping().wait(10)
        with pytest.raises(TimeoutError):
            receive(fresh, timeout=0.3)  # no failure any more
    server.wait_for_line("build failed after")


def test_ctrl_c_while_a_page_waits_for_the_build_stops_at_once(
    gated_server: DevServer, app: Path, tmp_path: Path
) -> None:
    # A page held waiting for a build's output must not keep the server from stopping.
    server = gated_server
    with server.socket() as ws:
        edit_at_the_gate(ws, app, tmp_path / "gate", "44")
        with concurrent.futures.ThreadPoolExecutor() as pool:
            glue = pool.submit(http_get, server, "/pkg/demo.js")
            time.sleep(0.3)
            assert not glue.done()
            started = time.monotonic()
            assert server.stop() == 130
            assert time.monotonic() - started < 10  # not the 20 s a page may wait
            with contextlib.suppress(OSError, http.client.HTTPException):
                glue.result(timeout=10)


@pytest.fixture
def gated_server(app: Path, fake_tools: FakeTools, tmp_path: Path) -> Iterator[DevServer]:
    """A server whose cargo holds each build while tmp_path/gate exists, and fails a build
    that starts while another runs (tmp_path/running marks one running)."""
    env = {
        **fake_tools.env,
        "FAKE_CARGO_GATE": str(tmp_path / "gate"),
        "FAKE_CARGO_RUNNING": str(tmp_path / "running"),
    }
    dev = DevServer(app, env=env)
    yield dev
    dev.stop()


def test_a_burst_of_saves_stops_the_running_build_then_builds_once(
    gated_server: DevServer, app: Path, fake_tools: FakeTools, tmp_path: Path
) -> None:
    """20 saves while a build runs: that build is stopped (it never reloads the page nor
    shows errors), then exactly one build of the last save runs; builds never overlap."""
    server = gated_server
    with server.socket() as ws:
        receive(ws)
        wait_until_watching(ws, app)
        (tmp_path / "gate").touch()  # the next builds wait at the gate
        (app / "src" / "lib.rs").write_text("pub fn answer() -> u32 { 0 }\n")
        receive_until(ws, of_type("building"))
        mark = len(server.lines)
        for i in range(1, 20):
            (app / "src" / "lib.rs").write_text(f"pub fn answer() -> u32 {{ {i} }}\n")
        (app / "src" / "last.rs").write_text("// the 20th save\n")
        # Every save has reached the server once it reports the last one (inotify keeps
        # order); only then do held builds go on.
        server.wait_for_line(r"src/last\.rs", after=mark)
        (tmp_path / "gate").unlink()
        seen = receive_until(ws, good_build)
        builds = cargo_builds(fake_tools)
        with pytest.raises(TimeoutError):
            receive(ws, timeout=0.5)  # no build after the one of the last save
    assert seen[-1]["build"]["generation"] == 2  # no stopped build reloaded the page
    # The first build's early reload, then builds (no stopped one showed its errors nor
    # reloaded the page again), then the end of the last one.
    assert seen[0] == {"type": "reload", "reason": "building", "paths": []}
    assert set(types(seen[1:-1])) == {"building"}
    assert seen[-1]["type"] == "built"
    assert cargo_builds(fake_tools) == builds
    assert "two builds at once" not in server.stderr
    assert not (tmp_path / "running").exists()
    server.wait_for_line("build stopped: newer changes came in", after=mark)


def test_a_path_dependency_is_watched(
    crate_dir: Path, fake_tools: FakeTools, tmp_path: Path
) -> None:
    dep = tmp_path / "dep"
    (dep / "src").mkdir(parents=True)
    (dep / "Cargo.toml").write_text('[package]\nname = "dep"\nversion = "0.1.0"\n')
    (dep / "src" / "lib.rs").write_text("")
    manifest = crate_dir / "Cargo.toml"
    manifest.write_text(manifest.read_text() + 'dep = { path = "../dep" }\n')
    server = DevServer(crate_dir, env=fake_tools.env)
    try:
        with server.socket() as ws:
            receive(ws)
            wait_until_watching(ws, crate_dir)
            (dep / "src" / "lib.rs").write_text("pub fn x() {}\n")
            seen = receive_until(ws, good_build)
        assert types(seen) == ["building", "reload", "built"]
    finally:
        server.stop()


def test_a_failed_first_build_is_served_with_its_errors(app: Path, fake_tools: FakeTools) -> None:
    (app / "src" / "lib.rs").write_text(BROKEN_RUST)
    server = DevServer(app, env=fake_tools.env)
    try:
        server.wait_for_line("serving the errors until a build succeeds")
        with server.socket() as ws:
            hello, failure = receive(ws), receive(ws)
            assert (hello["type"], hello["build"]) == ("hello", 0)
            assert failure["type"] == "build-failed"
            assert "cannot find value `x`" in failure["diagnostics"]
            assert http_get(server, "/_wbspawn/app.json").status == 503
            assert http_get(server, "/").status == 200  # the page, to show the overlay
            (app / "src" / "lib.rs").write_text(GOOD_RUST)
            seen = receive_until(ws, of_type("reload"))
        assert types(seen) == ["building", "reload"]
        assert http_get(server, "/_wbspawn/app.json").status == 200
    finally:
        server.stop()


def test_a_restarted_server_has_a_new_identity(
    app: Path, fake_tools: FakeTools, unused_tcp_port: int
) -> None:
    first = DevServer(app, env=fake_tools.env, port=unused_tcp_port)
    try:
        with first.socket() as ws:
            before = receive(ws)["server"]
            assert first.stop() == 130
            # The server closes the socket on its way out: the page starts reconnecting.
            with pytest.raises(Exception):  # noqa: B017 - closed, whatever the close code
                receive(ws, timeout=30)
    finally:
        first.stop()
    second = DevServer(app, env=fake_tools.env, port=unused_tcp_port)
    try:
        with second.socket() as ws:
            assert receive(ws)["server"] != before  # the page sees it and reloads
    finally:
        second.stop()


def test_sigterm_stops_cleanly(server: DevServer) -> None:
    assert server.stop(signal.SIGTERM) in (-signal.SIGTERM, 0, 143)
    assert "Traceback" not in server.stderr


# --- security probes against the real server ----------------------------------------------


@pytest.fixture
def secret_beside(app: Path) -> Path:
    secret = app.parent / "secret.txt"
    secret.write_text("secret")
    (app / ".env").write_text("secret")
    (app / ".git").mkdir()
    (app / ".git" / "config").write_text("secret")
    (app / "target").mkdir()
    (app / "target" / "x.wasm").write_text("secret")
    (app / "out.txt").symlink_to(secret)
    (app / "public.txt").symlink_to(".env")
    (app / "git").symlink_to(".git", target_is_directory=True)
    (app / "build").symlink_to("target", target_is_directory=True)
    return secret


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/src/..%2f..%2fsecret.txt",
        "/pkg/../../secret.txt",
        "/_wbspawn/%2e%2e/%2e%2e/secret.txt",
        "/.env",
        "/.git/config",
        "/%2egit/config",
        "/target/x.wasm",
        "/out.txt",
        "/public.txt",
        "/git/config",
        "/build/x.wasm",
    ],
)
def test_nothing_outside_the_app_or_private_is_served(
    server: DevServer, secret_beside: Path, path: str
) -> None:
    response = http_get(server, path)
    assert response.status in (400, 404)


@pytest.mark.parametrize("path", ["/nope.js", "/nope.wasm", "/nope.css", "/pkg/nope.js"])
def test_a_missing_asset_is_a_404_never_a_page(server: DevServer, path: str) -> None:
    response = http_get(server, path)
    assert response.status == 404
    assert not response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io"])
def test_another_host_gets_400(server: DevServer, host: str) -> None:
    assert http_get(server, "/", host=host).status == 400
    assert http_get(server, "/pkg/demo.js", host=host).status == 400


def assert_nothing_logged_for_refusals(server: DevServer, app: Path) -> None:
    """The server's terminal after refused sockets: not one error, which any web page the
    developer visits could otherwise repeat at will."""
    with server.socket() as ws:
        receive(ws)
        mark = len(server.lines)
        wait_until_watching(ws, app)
    # The probe's line comes after whatever the server logged for the refusals.
    server.wait_for_line(r"probe\.txt changed", after=mark)
    assert not [line for line in server.lines if "ERROR" in line or "handshake" in line], (
        server.stderr
    )


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "http://localhost:1", "null", "https://127.0.0.1"]
)
def test_the_socket_refuses_other_origins(server: DevServer, app: Path, origin: str) -> None:
    for _ in range(3):
        with pytest.raises(InvalidStatus) as info:
            server.socket(origin=origin).close()
        assert info.value.response.status_code == 403
    assert_nothing_logged_for_refusals(server, app)


def test_the_socket_refuses_other_hosts(server: DevServer, app: Path) -> None:
    # DNS rebinding: evil.example resolves to the server, the Host header says evil.example.
    host, port = server.origin.removeprefix("http://").split(":")
    with (
        socket.create_connection((host, int(port)), timeout=30) as sock,
        pytest.raises(InvalidStatus) as info,
    ):
        connect(
            f"ws://evil.example:{port}/_wbspawn/ws",
            sock=sock,
            origin=Origin(f"http://evil.example:{port}"),
            proxy=None,
        ).close()
    assert_nothing_logged_for_refusals(server, app)
    assert info.value.response.status_code == 403


def test_ctrl_c_during_a_build_stops_cargo_and_its_children(
    app: Path, fake_tools: FakeTools, cargo_child: CargoChild, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.touch()  # the first build hangs until the gate goes
    env = {
        **fake_tools.env,
        "FAKE_CARGO_GATE": str(gate),
        "FAKE_CARGO_CHILD": str(cargo_child.path),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "wbspawn", "serve", str(app), "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pids = cargo_child.pids()  # cargo runs, and the child it started (as rustc)
        server.send_signal(signal.SIGINT)  # to the server alone, not its process group
        _, stderr = server.communicate(timeout=60)
    finally:
        server.kill()
        server.wait()
    assert server.returncode == 130
    assert "Traceback" not in stderr
    # Gone, not left building in the background.
    assert wait_gone(pids["cargo"])
    assert wait_gone(pids["child"]), "cargo's child was left running"
