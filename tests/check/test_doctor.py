from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEMO_DIR, FakeTools, write_executable
from wbspawn import assets
from wbspawn.build.toolchain import discover
from wbspawn.check.doctor import Finding, check_built_std, check_stack_checks, diagnose


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wbspawn", "doctor", *args],
        env=os.environ.copy() if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def by_name(findings: list[Finding]) -> dict[str, Finding]:
    return {f.name: f for f in findings}


def test_this_machine_has_everything() -> None:
    proc = doctor(str(DEMO_DIR))
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    names = ("compiler", "std sources", "wasm linker", "wasm-bindgen", "chromium", "firefox")
    for name in (*names, "webkit"):
        assert any(line.split()[:1] == ["ok"] and name in line for line in lines), name
    assert "matches Cargo.lock" in proc.stdout
    for version in ("Chromium ", "Firefox ", "WebKitGTK "):
        assert version in proc.stdout
    assert lines[-1] == ("wbspawn doctor: everything the build and `wbspawn check` need is here")


def test_missing_tools_are_named_with_their_fix(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "WBSPAWN_CHROMIUM": str(tmp_path / "no-chromium"),
        "WBSPAWN_WASM_BINDGEN": str(tmp_path / "no-wasm-bindgen"),
    }
    proc = doctor(env=env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert "MISSING  chromium" in out
    assert "fix: run `apt-get install chromium` (or `make setup`), or set WBSPAWN_CHROMIUM" in out
    assert "MISSING  wasm-bindgen" in out
    assert "fix: run `cargo install wasm-bindgen-cli --locked`" in out
    assert out.splitlines()[-1].startswith("wbspawn doctor: 2 missing (wasm-bindgen, chromium)")


def test_a_missing_firefox_or_webkit_is_said_with_its_fix_but_does_not_fail(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "WBSPAWN_FIREFOX": str(tmp_path / "no-firefox"),
        "WBSPAWN_WEBKIT": str(tmp_path / "no-minibrowser"),
    }
    proc = doctor(env=env)
    assert proc.returncode == 0, proc.stdout
    out = proc.stdout
    assert "absent   firefox" in out
    assert "needed for `wbspawn check --browser firefox`" in out
    assert "fix: run `apt-get install firefox-esr` (or `make setup`), or set WBSPAWN_FIREFOX" in out
    assert "absent   webkit" in out
    assert "apt-get install libwebkit2gtk-4.1-0 xvfb" in out
    assert out.splitlines()[-1] == (
        "wbspawn doctor: the build and `wbspawn check` have what they need; not installed: "
        "firefox, webkit (only for `wbspawn check --browser` and `wbspawn build`'s optimizer)"
    )


def test_a_wasm_bindgen_that_does_not_match_the_lockfile(
    crate_dir: Path, fake_tools: FakeTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_WASM_BINDGEN_VERSION", "0.2.99")
    finding = by_name(diagnose(crate_dir))["wasm-bindgen"]
    assert not finding.ok
    assert finding.detail.startswith("0.2.99 (")
    assert "Cargo.lock has wasm-bindgen 0.2.100" in finding.detail
    assert finding.fix == "run `cargo install wasm-bindgen-cli --version =0.2.100 --locked`"


def test_a_toolchain_without_std_sources_or_linker(
    fake_tools: FakeTools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sysroot = tmp_path / "sysroot"
    (sysroot / "lib" / "rustlib").mkdir(parents=True)
    rustc = write_executable(
        tmp_path / "bin" / "rustc",
        f'#!/bin/sh\nif [ "$1" = "--print" ]; then echo {sysroot}; else echo rustc 1.96.0; fi\n',
    )
    monkeypatch.setenv("WBSPAWN_RUSTC", str(rustc))
    monkeypatch.setenv("PATH", "/nonexistent")  # no rust-lld anywhere
    findings = by_name(diagnose())
    assert findings["compiler"].ok
    assert "rustc 1.96.0" in findings["compiler"].detail
    std = findings["std sources"]
    assert not std.ok
    assert std.detail == f"{sysroot}/lib/rustlib/src/rust/library is missing"
    assert "rust-web-src" in std.fix
    assert not findings["wasm linker"].ok
    assert "lld" in findings["wasm linker"].fix


def test_no_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WBSPAWN_CARGO", str(tmp_path / "cargo"))
    monkeypatch.delenv("WBSPAWN_RUSTC", raising=False)
    findings = by_name(diagnose())
    assert not findings["compiler"].ok
    assert "set both WBSPAWN_CARGO and WBSPAWN_RUSTC" in findings["compiler"].fix
    assert not findings["std sources"].ok


def test_before_the_first_build_the_manifests_pin_is_what_is_checked(
    crate_dir: Path, fake_tools: FakeTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    (crate_dir / "Cargo.lock").unlink()  # a fresh app: never built
    finding = by_name(diagnose(crate_dir))["wasm-bindgen"]
    assert finding.ok
    assert "matches the version the app's Cargo.toml pins (no Cargo.lock yet" in finding.detail
    assert "cannot read" not in finding.detail
    monkeypatch.setenv("FAKE_WASM_BINDGEN_VERSION", "0.2.99")
    finding = by_name(diagnose(crate_dir))["wasm-bindgen"]
    assert not finding.ok
    assert finding.fix == "run `cargo install wasm-bindgen-cli --version =0.2.100 --locked`"


def test_what_wbspawn_builds_for_the_machine_is_shown_with_its_size(
    fake_tools: FakeTools, cache_dir: Path
) -> None:
    std = check_built_std(cache_dir)
    assert std.ok
    assert std.detail.startswith("not built yet: the first build compiles it")
    assert "built with cargo by the first build" in check_stack_checks(discover(), cache_dir).detail
    root = cache_dir / "sysroot" / "1.96.0-x-plain-abort-debug-y"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "libstd.rlib").write_bytes(b"x" * (3 << 20))
    (root / ".wbspawn-sysroot.json").write_text(
        '{"rustc": "1.96.0", "panic": "abort", "profile": "debug"}'
    )
    std = check_built_std(cache_dir)
    assert std.detail.startswith("built: rustc 1.96.0 abort debug (3 MiB), 3 MiB in ")
    assert std.detail.endswith("`wbspawn clean` removes it")


def test_whether_a_plain_cargo_test_runs_in_a_browser(tmp_path: Path) -> None:
    from wbspawn.ship.template import new_app

    app = new_app(tmp_path / "app").dir
    finding = by_name(diagnose(app))["cargo test"]
    assert finding.ok, finding
    config = app / ".cargo" / "config.toml"
    text = config.read_text()
    # A wbspawn package that moved (reinstalled elsewhere): the crate path is stale.
    config.write_text(text.replace(str(assets.runtime_rs_dir()), str(tmp_path / "gone")))
    finding = by_name(diagnose(app))["cargo test"]
    assert not finding.ok and not finding.required
    assert f"points at {tmp_path / 'gone'}, not this wbspawn's crate" in finding.detail
    config.unlink()
    finding = by_name(diagnose(app))["cargo test"]
    assert finding.detail == f"not set up: no {config}"
    assert 'runner = "wbspawn test-runner"' in finding.fix
    proc = doctor(str(app))
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[-1].endswith(
        "a plain `cargo test` is not set up to run in a browser (`wbspawn test` is)"
    )
