"""`wbspawn build` and `wbspawn preview` run as a user runs them, on the fake toolchain:
the dist's layout, the size table, and a failed build that leaves the old dist alone."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest

from conftest import FakeTools
from wbspawn.config import Config
from wbspawn.errors import WbspawnError
from wbspawn.ship.dist import check_out_dir

PAGE = '<!doctype html><html><head><script type="module" src="main.js"></script></head></html>'
MAIN = 'import { start, done } from "/_wbspawn/bootstrap.js";\nawait start("/pkg/demo.js");\n'


def run(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wbspawn", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def app(crate_dir: Path) -> Path:
    (crate_dir / "index.html").write_text(PAGE)
    (crate_dir / "main.js").write_text(MAIN)
    return crate_dir


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_build_writes_a_dist_and_prints_its_sizes(app: Path, fake_tools: FakeTools) -> None:
    proc = run("build", str(app), env=fake_tools.env)
    assert proc.returncode == 0, proc.stderr
    dist = app / "dist"
    manifest = json.loads((dist / ".wbspawn-dist.json").read_text())
    names = manifest["files"]
    assert manifest["crate"] == "demo"
    assert manifest["pages"] == ["index.html"]
    for name in ("index.html", "wbspawn-sw.js", "_headers", "vercel.json", "nginx.conf"):
        assert (dist / name).is_file(), name
    for name in ("caddy.conf", ".htaccess"):
        assert (dist / name).is_file(), name
    glue, wasm = names["/pkg/demo.js"], names["/pkg/demo_bg.wasm"]
    assert glue.startswith("assets/demo.") and wasm == glue.removesuffix(".js") + "_bg.wasm"
    assert (dist / wasm).is_file()
    # The runtime's scripts, reached from main.js through the isolation gate.
    for script in ("bootstrap", "isolate", "app-worker", "dispatcher", "thread-worker"):
        assert names[f"/_wbspawn/{script}.js"].startswith(f"assets/{script}."), script
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["file", "raw", "gzip", "brotli"]
    assert any(line.split()[0] == wasm for line in lines[1:])
    assert lines[-2].split()[0] == "total"
    assert lines[-1].startswith(f"wbspawn: built demo into {dist} in ")
    # wasm-opt optimized it at the default level, detecting features from the module.
    calls = (fake_tools.cargo_log.parent / "wasm-opt-calls.log").read_text().splitlines()
    assert any(call.startswith("-O3 ") for call in calls), calls
    assert not any("-all" in call.split() or "--all-features" in call for call in calls)
    # The dist is readable by a web server's workers, not private like a temp dir.
    assert dist.stat().st_mode & 0o055 == 0o055


def test_the_level_comes_from_the_command_line_or_the_manifest(
    app: Path, fake_tools: FakeTools
) -> None:
    manifest = app / "Cargo.toml"
    manifest.write_text(manifest.read_text() + '\n[package.metadata.wbspawn]\nwasm-opt = "Oz"\n')
    assert run("build", str(app), env=fake_tools.env).returncode == 0
    log = fake_tools.cargo_log.parent / "wasm-opt-calls.log"
    assert log.read_text().splitlines()[-1].startswith("-Oz ")
    log.write_text("")
    assert run("build", str(app), "--wasm-opt", "off", env=fake_tools.env).returncode == 0
    assert not any(c.startswith("-O") for c in log.read_text().splitlines())


def test_a_failed_build_leaves_the_dist_as_it_was(app: Path, fake_tools: FakeTools) -> None:
    out = app.parent / "site"
    assert run("build", str(app), "--out", str(out), env=fake_tools.env).returncode == 0
    before = snapshot(out)
    (app / "main.js").write_text(MAIN + "// changed\n")

    failed = run(
        "build", str(app), "--out", str(out), env={**fake_tools.env, "FAKE_CARGO_FAIL": "1"}
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("wbspawn: error: cargo build failed")
    assert "Traceback" not in failed.stderr
    assert snapshot(out) == before

    # A failure after the build, half way through writing the new dist.
    (app / "public").mkdir()
    (app / "public" / "wbspawn-sw.js").write_text("// mine")
    late = run("build", str(app), "--out", str(out), env=fake_tools.env)
    assert late.returncode == 1
    assert "would take the place of wbspawn's service worker" in late.stderr
    assert snapshot(out) == before
    # No staging directory is left beside it.
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".site.")] == []

    (app / "public" / "wbspawn-sw.js").unlink()
    assert run("build", str(app), "--out", str(out), env=fake_tools.env).returncode == 0
    assert snapshot(out) != before


def test_the_build_replaces_only_a_dist(app: Path, fake_tools: FakeTools, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    proc = run("build", str(app), "--out", str(precious), env=fake_tools.env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"wbspawn: error: {precious} exists and is not a dist built by wbspawn (no "
        ".wbspawn-dist.json), so the build will not replace it: remove it, or pass --out a "
        "new or empty directory"
    ]
    assert (precious / "thesis.tex").read_text() == "years of work"
    assert not (fake_tools.cargo_log.exists() and "build" in fake_tools.cargo_log.read_text())


@pytest.mark.parametrize("out", [".", "..", "src/dist", "public/dist"])
def test_out_dirs_that_would_destroy_the_app_are_refused(app: Path, out: str) -> None:
    with pytest.raises(WbspawnError, match="--out"):
        check_out_dir(app, (app / out).resolve())


def test_dist_defaults_to_the_app_dist(app: Path, tmp_path: Path) -> None:
    assert Config(app_dir=app).dist == app / "dist"
    assert Config(app_dir=app, dist_dir=tmp_path / "x").dist == tmp_path / "x"


def test_preview_and_build_errors_are_one_line(app: Path, fake_tools: FakeTools) -> None:
    proc = run("preview", str(app), env=fake_tools.env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"wbspawn: error: {app} has no dist yet: run `wbspawn build {app}` first"
    ]
    missing = run("build", str(app / "nope"), env=fake_tools.env)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"wbspawn: error: no such directory: {app / 'nope'}"
    ]


def test_preview_serves_a_built_dist(app: Path, fake_tools: FakeTools) -> None:
    assert run("build", str(app), env=fake_tools.env).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "wbspawn", "preview", str(app), "--port", "0"],
        env=dict(fake_tools.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("wbspawn: serving demo at http://127.0.0.1:")
        url = line.split(" at ")[1].strip()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=30) as response:
            body = response.read().decode()
            assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "reload.js" not in body  # nothing injected
        assert 'src="./assets/main.' in body
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_a_wrong_level_in_the_manifest_is_one_line(app: Path, fake_tools: FakeTools) -> None:
    manifest = app / "Cargo.toml"
    manifest.write_text(manifest.read_text() + '\n[package.metadata.wbspawn]\nwasm-opt = "O9"\n')
    proc = run("build", str(app), env=fake_tools.env)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.endswith(
        "wasm-opt must be one of 'O', 'O1', 'O2', 'O3', 'O4', 'Os', 'Oz', 'off', not 'O9'"
    )
