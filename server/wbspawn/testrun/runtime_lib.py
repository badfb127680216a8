"""The wbspawn crate built once per std for the test binaries of crates that do not use it.

A crate's tests know nothing of wbspawn, yet the std they are built with calls the runtime's
hooks. The runtime crate (this package's copy, the one `serve` ships the browser half of) is
built as an rlib against the same sysroot, in a seed crate of its own in the cache, and the
rustc wrapper (`rustc-wrapper.sh`) links it into each test binary. Cargo keeps it fresh: the
next run builds nothing unless the runtime's source or the std changed.
"""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wbspawn import assets
from wbspawn.build import flags, locking
from wbspawn.build.cargo import artifacts, cargo_diagnostics
from wbspawn.build.process import LineSink, Runner, StreamRunner, run_captured, run_streaming
from wbspawn.build.sysroot import Sysroot
from wbspawn.build.toolchain import Toolchain
from wbspawn.errors import BuildError

_WRAPPER = Path(__file__).with_name("rustc-wrapper.sh")
_SEED_MANIFEST = """\
[package]
name = "wbspawn-test-runtime"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
path = "lib.rs"

[dependencies]
wbspawn = {{ path = {runtime} }}
"""


@dataclass(frozen=True)
class TestRuntime:
    """The runtime's rlib and where its dependencies are, for the rustc wrapper."""

    rlib: Path
    deps: Path  # the wasm crates it depends on
    host_deps: Path  # the proc macros they use
    wrapper: Path
    lockfile: Path  # the seed's: the wasm-bindgen version the runtime was built with

    def env(self) -> dict[str, str]:
        return {
            "RUSTC_WORKSPACE_WRAPPER": str(self.wrapper),
            "WBSPAWN_TEST_RUNTIME": str(self.rlib),
            "WBSPAWN_TEST_DEPS": str(self.deps),
            "WBSPAWN_TEST_HOST_DEPS": str(self.host_deps),
        }


def prepare(
    toolchain: Toolchain,
    std: Sysroot,
    panic: flags.Panic,
    *,
    release: bool,
    cache_dir: Path,
    env: Mapping[str, str],
    run: Runner,
    stream: StreamRunner,
    on_line: LineSink | None = None,
) -> TestRuntime:
    """Builds (or finds fresh) the runtime against `std`."""
    root = cache_dir / "test-runtime" / std.key
    seed = root / "seed"
    target = root / "target"
    with locking.held(root.with_name(f"{std.key}.lock")):
        seed.mkdir(parents=True, exist_ok=True)
        manifest = _SEED_MANIFEST.format(runtime=json.dumps(str(assets.runtime_rs_dir())))
        _write_if_changed(seed / "Cargo.toml", manifest)
        _write_if_changed(seed / "lib.rs", "pub use wbspawn;\n")
        build_env = {
            **env,
            **flags.build_env(std.rustflags(panic)),
            "CARGO_TARGET_DIR": str(target),
        }
        args = [str(toolchain.cargo), *flags.cargo_build_args(release=release)]
        proc = (
            run(args, seed, build_env)
            if on_line is None
            else stream(args, seed, build_env, on_line)
        )
        if proc.returncode != 0:
            raise BuildError(
                "building the wbspawn runtime for the tests failed (cargo's errors are above); "
                "`wbspawn doctor` checks the toolchain",
                cargo_diagnostics(proc.stderr),
            )
        rlib = _runtime_rlib(proc.stdout)
        if rlib is None:
            raise BuildError("building the wbspawn runtime for the tests reported no rlib")
        wrapper = _installed_wrapper(root)
    profile = "release" if release else "debug"
    return TestRuntime(rlib, rlib.parent, target / profile / "deps", wrapper, seed / "Cargo.lock")


def _write_if_changed(path: Path, text: str) -> None:
    # An unchanged manifest keeps cargo's fingerprints (and the build) as they are.
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _runtime_rlib(cargo_stdout: str) -> Path | None:
    for message in artifacts(cargo_stdout):
        if message.get("target", {}).get("name") != "wbspawn":
            continue
        for filename in message.get("filenames", []):
            if filename.endswith(".rlib"):
                return Path(filename)
    return None


def _installed_wrapper(root: Path) -> Path:
    """The wrapper script, executable, in the cache (a wheel does not keep the mode bits)."""
    installed = root / _WRAPPER.name
    text = _WRAPPER.read_text(encoding="utf-8")
    if not installed.is_file() or installed.read_text(encoding="utf-8") != text:
        staged = installed.with_name(installed.name + ".new")
        staged.write_text(text, encoding="utf-8")
        staged.chmod(staged.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        staged.replace(installed)
    return installed


def cargo_test_env(
    toolchain: Toolchain, std: Sysroot, panic: flags.Panic, *, release: bool, cache_dir: Path
) -> dict[str, str]:
    """What makes a plain `cargo test --target wasm32-unknown-unknown` (with the flags
    against `std`) run the tests as `wbspawn test` does: the rustc wrapper that links the
    runtime, and `wbspawn test-runner` as the target's runner (cargo reads
    CARGO_TARGET_<TRIPLE>_RUNNER over .cargo/config.toml)."""
    env = toolchain.subprocess_env()
    for name in flags.OVERRIDING_ENV:
        env.pop(name, None)
    runtime = prepare(
        toolchain,
        std,
        panic,
        release=release,
        cache_dir=cache_dir,
        env=env,
        run=run_captured,
        stream=run_streaming,
    )
    runner_key = "CARGO_TARGET_" + flags.TARGET.upper().replace("-", "_") + "_RUNNER"
    return {**runtime.env(), runner_key: f"{sys.executable} -m wbspawn test-runner"}
