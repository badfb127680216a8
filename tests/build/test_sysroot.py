"""std is built once per compiler, std source, panic mode and flags, into a sysroot every app's
build uses (build/sysroot.py); with the fake tools, in milliseconds."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import CARGO_TOML, FakeTools
from wbspawn.build import flags, sysroot
from wbspawn.build.pipeline import build
from wbspawn.build.process import run_captured, run_streaming
from wbspawn.build.stdpatch import Rustc, disabled
from wbspawn.build.toolchain import Toolchain, discover
from wbspawn.config import Config


@pytest.fixture
def toolchain(fake_tools: FakeTools) -> Toolchain:
    return discover()


def std_builds(tools: FakeTools) -> list[dict[str, Any]]:
    calls = [json.loads(line) for line in tools.cargo_log.read_text().splitlines()]
    return [c for c in calls if any(a.startswith("-Zbuild-std=") for a in c["args"])]


def another_app(tmp_path: Path, name: str) -> Path:
    app = tmp_path / name
    (app / "src").mkdir(parents=True)
    (app / "Cargo.toml").write_text(CARGO_TOML.replace('name = "demo"', f'name = "{name}"'))
    (app / "src" / "lib.rs").write_text("")
    (app / "Cargo.lock").write_text(
        'version = 4\n\n[[package]]\nname = "NAME"\nversion = "0.1.0"\n'
        'dependencies = ["wasm-bindgen"]\n\n[[package]]\nname = "wasm-bindgen"\n'
        'version = "0.2.100"\n'
        'source = "registry+https://github.com/rust-lang/crates.io-index"\n'.replace("NAME", name)
    )
    return app


def test_std_is_built_once_for_every_app(
    config: Config, toolchain: Toolchain, fake_tools: FakeTools, tmp_path: Path
) -> None:
    first = build(config, toolchain)
    second = build(
        Config(app_dir=another_app(tmp_path, "other"), cache_dir=config.cache_dir), toolchain
    )
    again = build(config, toolchain)
    assert len(std_builds(fake_tools)) == 1
    assert first.sysroot == second.sysroot == again.sysroot
    assert first.sysroot is not None
    libs = first.sysroot.path / "lib" / "rustlib" / flags.TARGET / "lib"
    names = sorted(p.name for p in libs.iterdir())
    assert "libstd-0000.rlib" in names
    assert "libtest-0000.rlib" in names  # for `wbspawn test`
    assert not any("wbspawn_sysroot" in name for name in names)  # the seed crate is not std


def test_each_panic_mode_has_its_own_std_and_unwinding_debug_builds_a_debug_one(
    config: Config, toolchain: Toolchain, fake_tools: FakeTools
) -> None:
    abort = build(config, toolchain)
    unwind = build(replace(config, panic="unwind"), toolchain)
    release = build(replace(config, release=True), toolchain)
    release_unwind = build(replace(config, release=True, panic="unwind"), toolchain)
    # An optimized std for every build, but a debug build that unwinds (sysroot.py says why).
    assert [(c["args"][4], "--release" in c["args"]) for c in std_builds(fake_tools)] == [
        ("-Zbuild-std=std,panic_abort,test", True),
        ("-Zbuild-std=std,panic_unwind,test", False),
        ("-Zbuild-std=std,panic_unwind,test", True),
    ]
    assert abort.sysroot == release.sysroot
    sysroots = [result.sysroot for result in (abort, unwind, release_unwind)]
    assert len({s.key for s in sysroots if s is not None}) == 3
    assert abort.out_dir != unwind.out_dir != release.out_dir


RUSTC = Rustc(release="1.96.0", commit="0123456789abcdef", sysroot=Path("/nowhere"))


PLAIN = sysroot.Flavour(disabled("off"), "abort", release=False)


def test_the_key_names_the_compiler_the_std_the_panic_mode_and_the_profile() -> None:
    key = sysroot.sysroot_key(RUSTC, PLAIN)
    assert key.startswith("1.96.0-0123456789ab-plain-abort-debug-")
    newer = Rustc(release="1.96.1", commit="fedcba9876543210", sysroot=Path("/nowhere"))
    assert sysroot.sysroot_key(newer, PLAIN) != key
    assert sysroot.sysroot_key(RUSTC, replace(PLAIN, panic="unwind")) != key
    assert sysroot.sysroot_key(RUSTC, replace(PLAIN, release=True)).startswith(
        "1.96.0-0123456789ab-plain-abort-release-"
    )


def prepare(toolchain: Toolchain, cache_dir: Path) -> sysroot.Sysroot:
    return sysroot.prepare(
        toolchain,
        RUSTC,
        PLAIN,
        cache_dir,
        run=run_captured,
        stream=run_streaming,
    )


def test_builds_at_once_make_one_std(
    toolchain: Toolchain,
    fake_tools: FakeTools,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    gate = tmp_path / "gate"
    gate.touch()  # the first std build waits here, holding the lock
    monkeypatch.setenv("FAKE_CARGO_GATE", str(gate))
    results: list[sysroot.Sysroot] = []
    threads = [
        threading.Thread(target=lambda: results.append(prepare(toolchain, cache_dir)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    threading.Event().wait(0.5)
    gate.unlink()
    for thread in threads:
        thread.join(30)
    assert len(results) == 3
    assert len(set(results)) == 1
    assert len(std_builds(fake_tools)) == 1


def test_an_interrupted_build_leaves_nothing_that_is_used(
    toolchain: Toolchain, fake_tools: FakeTools, cache_dir: Path
) -> None:
    key = sysroot.sysroot_key(RUSTC, PLAIN)
    folder = sysroot.sysroots_dir(cache_dir)
    half = folder / f"{key}.staging-x1"
    (half / "sysroot").mkdir(parents=True)  # what a killed build left
    made = prepare(toolchain, cache_dir)
    assert made.path == folder / key
    assert not half.exists()
    assert [s.path for s in sysroot.cached(cache_dir)] == [made.path]
    assert sysroot.cached(cache_dir)[0].size_bytes > 0
