from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest

from conftest import FakeTools, write_executable
from devserver import DevServer
from wbspawn import assets
from wbspawn.cli import add_serve_arguments, config_from_args, main, serve_main
from wbspawn.errors import WbspawnError

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wbspawn(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wbspawn", *args],
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_error_line(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == f"wbspawn: error: {message}"


def test_nonexistent_app_dir() -> None:
    proc = wbspawn("serve", "/nonexistent")
    assert_one_error_line(proc, "no such directory: /nonexistent")
    assert len(proc.stderr.splitlines()) == 1


def test_serve_main_is_wbspawn_serve(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(["/nonexistent"]) == 1
    assert main(["serve", "/nonexistent"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["wbspawn: error: no such directory: /nonexistent"] * 2


def test_directory_without_a_crate(tmp_path: Path, fake_tools: FakeTools) -> None:
    proc = wbspawn("serve", str(tmp_path), "--port", "0", env=fake_tools.env)
    assert_one_error_line(proc, f"no Cargo.toml in {tmp_path}: pass the directory of a Rust crate")


@pytest.mark.parametrize("command", ["build", "test"])
def test_a_build_of_a_directory_without_a_crate_is_one_line(
    tmp_path: Path, fake_tools: FakeTools, command: str
) -> None:
    # Said before anything else: no "building…" line for something that cannot be built.
    proc = wbspawn(command, str(tmp_path), env=fake_tools.env)
    assert_one_error_line(proc, f"no Cargo.toml in {tmp_path}: pass the directory of a Rust crate")
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1


def test_busy_port(crate_dir: Path, fake_tools: FakeTools) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = wbspawn("serve", str(crate_dir), "--port", str(port), env=fake_tools.env)
    assert_one_error_line(proc, f"port {port} on 127.0.0.1 is in use: pass --port N")
    assert not fake_tools.cargo_log.exists()  # refused before building


def test_build_failure_prints_diagnostics_above(crate_dir: Path, fake_tools: FakeTools) -> None:
    env = {**fake_tools.env, "FAKE_CARGO_FAIL": "1"}
    proc = wbspawn("serve", str(crate_dir), "--port", "0", "--no-watch", env=env)
    assert_one_error_line(proc, "cargo build failed for demo (rustc's errors are above)")
    above = proc.stderr.splitlines()[:-1]
    assert "error[E0425]: cannot find value `x` in this scope" in above


def test_bad_port_is_a_usage_error() -> None:
    proc = wbspawn("serve", ".", "--port", "http")
    assert proc.returncode == 2
    assert "not a port number" in proc.stderr


def runtime_js_missing() -> bool:
    try:
        assets.runtime_js_dir()
    except WbspawnError:
        return True
    return False


@pytest.mark.skipif(runtime_js_missing(), reason="runtime-js/ is not there yet")
def test_serves_a_fake_build_until_ctrl_c(
    crate_dir: Path, fake_tools: FakeTools, unused_tcp_port: int
) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "wbspawn", "serve", str(crate_dir), "--port", str(unused_tcp_port)],
        env=fake_tools.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.strip() == f"wbspawn: serving demo at http://127.0.0.1:{unused_tcp_port}/"
        url = f"http://127.0.0.1:{unused_tcp_port}/_wbspawn/app.json"
        deadline = time.monotonic() + 30
        while True:
            try:
                with NO_PROXY.open(url, timeout=5) as response:
                    assert json.load(response) == {
                        "pkg": "/pkg/demo.js",
                        "crate": "demo",
                        "mode": "worker",
                    }
                    assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=30)
    finally:
        server.kill()
        server.wait()
    assert "Traceback" not in stderr
    assert server.returncode == 130


def test_port_0_picks_a_free_port_and_prints_it(crate_dir: Path, fake_tools: FakeTools) -> None:
    server = DevServer(crate_dir, env=fake_tools.env, port=0)
    try:
        port = int(server.url.rsplit(":", 1)[1].rstrip("/"))
        assert port > 0
        assert server.url == f"http://127.0.0.1:{port}/"
        with NO_PROXY.open(server.url + "_wbspawn/app.json", timeout=30) as response:
            assert json.load(response)["crate"] == "demo"
    finally:
        assert server.stop() == 130
    assert "Traceback" not in server.stderr


def test_public_host_warns_about_secure_contexts(crate_dir: Path, fake_tools: FakeTools) -> None:
    server = DevServer(crate_dir, "--host", "0.0.0.0", env=fake_tools.env)
    try:
        server.wait_for_line("warning: listening on 0.0.0.0")
        assert "secure context" in server.stderr
        assert "--allowed-host" in server.stderr
        assert server.url.startswith("http://127.0.0.1:")
    finally:
        server.stop()


def test_loopback_host_does_not_warn(crate_dir: Path, fake_tools: FakeTools) -> None:
    server = DevServer(crate_dir, "--host", "localhost", env=fake_tools.env)
    try:
        assert "warning" not in server.stderr
        assert server.url.startswith("http://localhost:")
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--header", "nope"], "--header 'nope' is not a header: write it as 'Name: value'"),
        (
            ["--allowed-host", "http://x"],
            "--allowed-host 'http://x' is not a host name: give a name or address without "
            "port or scheme, e.g. myhost.local",
        ),
        (
            ["--allowed-host", "*"],
            "--allowed-host '*': wildcards are not supported: list each name, or write a "
            "leading dot (.example.test) for a name and all its subdomains",
        ),
        (
            ["--allowed-host", "*.example.test"],
            "--allowed-host '*.example.test': wildcards are not supported: list each name, "
            "or write a leading dot (.example.test) for a name and all its subdomains",
        ),
        (
            ["--host", "evil..name"],
            "--host 'evil..name' is not a host name: give a name or address without port or "
            "scheme, e.g. myhost.local",
        ),
        (
            ["--host", "*"],
            "--host '*': wildcards are not supported: pass --host 0.0.0.0 to listen on every "
            "address",
        ),
    ],
)
def test_bad_options_are_one_error_line(
    crate_dir: Path, fake_tools: FakeTools, args: list[str], message: str
) -> None:
    # The fake tools: should an option get through, nothing real is built.
    proc = wbspawn("serve", str(crate_dir), *args, env=fake_tools.env)
    assert_one_error_line(proc, message)
    assert len(proc.stderr.splitlines()) == 1


def test_a_host_that_cannot_be_resolved_is_one_error_line(
    crate_dir: Path, fake_tools: FakeTools
) -> None:
    # Too long a label for a name: what the resolver refuses before asking anyone.
    host = "a" * 64 + ".test"
    proc = wbspawn("serve", str(crate_dir), "--host", host, env=fake_tools.env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(f"wbspawn: error: cannot resolve host '{host}'")
    assert not fake_tools.cargo_log.exists()


def test_bad_manifest_settings_are_one_error_line(crate_dir: Path) -> None:
    manifest = crate_dir / "Cargo.toml"
    manifest.write_text(manifest.read_text() + "\n[package.metadata.wbspawn]\nprot = 1\n")
    proc = wbspawn("serve", str(crate_dir))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "[package.metadata.wbspawn]: unknown key 'prot'" in proc.stderr.splitlines()[-1]


def test_manifest_port_is_used(
    crate_dir: Path, fake_tools: FakeTools, unused_tcp_port: int
) -> None:
    manifest = crate_dir / "Cargo.toml"
    manifest.write_text(
        manifest.read_text() + f"\n[package.metadata.wbspawn]\nport = {unused_tcp_port}\n"
    )
    server = DevServer(crate_dir, env=fake_tools.env, port=unused_tcp_port)  # CLI agrees
    server.stop()
    # And without --port on the command line:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wbspawn", "serve", str(crate_dir)],
        env=fake_tools.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"wbspawn: serving demo at http://127.0.0.1:{unused_tcp_port}/"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_no_early_reload_reaches_the_config(crate_dir: Path) -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    assert not config_from_args(
        parser.parse_args([str(crate_dir), "--no-early-reload"])
    ).early_reload
    assert config_from_args(parser.parse_args([str(crate_dir)])).early_reload


def test_bad_coep_is_a_usage_error() -> None:
    proc = wbspawn("serve", ".", "--coep", "unsafe-none")
    assert proc.returncode == 2
    assert "invalid choice: 'unsafe-none'" in proc.stderr


def test_panic_option_reaches_the_config(crate_dir: Path) -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    assert config_from_args(parser.parse_args([str(crate_dir), "--panic", "unwind"])).panic == (
        "unwind"
    )
    assert config_from_args(parser.parse_args([str(crate_dir)])).panic == "abort"
    proc = wbspawn("serve", ".", "--panic", "catch")
    assert proc.returncode == 2
    assert "invalid choice: 'catch'" in proc.stderr


def test_help_lists_the_options() -> None:
    proc = wbspawn("serve", "--help")
    for option in (
        "--host",
        "--port",
        "--release",
        "--no-watch",
        "--no-early-reload",
        "--open",
        "--header",
        "--coep",
        "--allowed-host",
        "--panic",
    ):
        assert option in proc.stdout
    assert "[package.metadata.wbspawn]" in proc.stdout
    assert wbspawn("--help").stdout.count("serve") >= 1
    for command in ("check", "doctor"):
        assert command in wbspawn("--help").stdout


@pytest.mark.parametrize("command", ["check", "doctor"])
def test_other_commands_check_the_app_dir(command: str) -> None:
    assert_one_error_line(wbspawn(command, "/nonexistent"), "no such directory: /nonexistent")


def test_no_watch_still_serves(crate_dir: Path, fake_tools: FakeTools) -> None:
    server = DevServer(crate_dir, "--no-watch", env=fake_tools.env)
    try:
        with NO_PROXY.open(server.url + "pkg/demo.js", timeout=30) as response:
            assert response.status == 200
    finally:
        server.stop()


def test_open_opens_the_browser_on_the_url(
    crate_dir: Path, fake_tools: FakeTools, tmp_path: Path
) -> None:
    opened = tmp_path / "opened.txt"
    opener = write_executable(tmp_path / "opener", f'#!/bin/sh\necho "$1" > "{opened}"\n')
    env = {**fake_tools.env, "BROWSER": f"{opener} %s"}  # what Python's webbrowser runs
    server = DevServer(crate_dir, "--open", env=env)
    try:
        deadline = time.monotonic() + 30
        while not (opened.exists() and opened.read_text().strip()):
            assert time.monotonic() < deadline, "the browser was never opened"
            time.sleep(0.05)
        assert opened.read_text().strip() == server.url
    finally:
        server.stop()


def test_check_takes_a_browser_engine_or_all() -> None:
    help_text = wbspawn("check", "--help").stdout
    assert "--browser {chromium,firefox,webkit,all}" in help_text
    proc = wbspawn("check", ".", "--browser", "netscape")
    assert proc.returncode == 2
    assert "invalid choice: 'netscape'" in proc.stderr


def test_clean_removes_the_cache_and_says_what_it_freed(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "sysroot" / "1.96.0-abort").mkdir(parents=True)
    (cache / "sysroot" / "1.96.0-abort" / "libstd.rlib").write_bytes(b"x" * (2 << 20))
    (cache / "target" / "debug").mkdir(parents=True)
    (cache / "test-runtime" / "1b2bbf6623").mkdir(parents=True)
    (cache / "prebuild" / "app-x").mkdir(parents=True)
    env = {**os.environ, "WBSPAWN_CACHE_DIR": str(cache)}
    proc = wbspawn("clean", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("  removed sysroot/ (2 MiB): std for wasm")
    assert lines[1].startswith("  removed target/ (0 MiB): cargo's target dirs")
    assert lines[-1].startswith(f"wbspawn: removed 2 MiB from {cache}")
    assert not (cache / "sysroot").exists() and not (cache / "target").exists()
    assert list(cache.iterdir()) == []  # every part, `wbspawn test`'s runtime too
    again = wbspawn("clean", env=env)
    assert again.stdout == f"wbspawn: nothing to remove in {cache}\n"


def test_env_prints_what_a_plain_cargo_needs_to_build_as_wbspawn_does(
    crate_dir: Path, fake_tools: FakeTools
) -> None:
    proc = wbspawn("env", str(crate_dir), "--panic", "unwind", env=fake_tools.env)
    assert proc.returncode == 0, proc.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in proc.stdout.splitlines())
    assert exports["CARGO_BUILD_TARGET"] == "wasm32-unknown-unknown"
    flags = exports["RUSTFLAGS"].strip("'")
    assert flags.startswith("-C target-feature=+atomics,+bulk-memory ")
    assert "-C panic=unwind" in flags
    sysroot = Path(flags.rsplit("--sysroot=", 1)[1])
    assert "-unwind-debug-" in sysroot.name
    assert (sysroot / "lib" / "rustlib" / "wasm32-unknown-unknown" / "lib").is_dir()
    # `cargo test` too: the runtime linked into each test binary, and the browser as runner.
    runner = exports["CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER"].strip("'")
    assert runner.endswith(" -m wbspawn test-runner")
    assert Path(exports["RUSTC_WORKSPACE_WRAPPER"]).name == "rustc-wrapper.sh"
    assert Path(exports["WBSPAWN_TEST_RUNTIME"]).name.startswith("libwbspawn-")
