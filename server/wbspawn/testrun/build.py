"""`wbspawn test`'s build: the crate's test binaries for wasm, each made ready for a page.

The same toolchain, std (with libtest: sysroot.py), flags and stack checks as `serve`, and
`cargo test --no-run` for the targets cargo would test (the library's unit tests and every
`tests/*.rs`; cargo's own options choose others). The runtime is linked into each binary by a
rustc wrapper (runtime_lib.py), so the crate needs no edit. Then each binary's `main` is
hidden from wasm-bindgen (wasm_main.py), and wasm-bindgen and the stack-check pass make its
glue as for an app: one output dir per binary.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wbspawn.build import flags, locking, stackcheck, stdpatch, sysroot
from wbspawn.build.bindgen import (
    check_wasm_bindgen_version,
    locked_wasm_bindgen_version,
    run_wasm_bindgen,
)
from wbspawn.build.cargo import (
    artifacts,
    cargo_diagnostics,
    crate_info_from_metadata,
    crate_manifest,
    read_metadata,
    runtime_patch_args,
)
from wbspawn.build.pipeline import app_key, cache_key, stack_checks, std_flavour, std_threads
from wbspawn.build.process import LineSink, run_captured, run_streaming
from wbspawn.build.toolchain import Toolchain, find_wasm_bindgen
from wbspawn.config import Config
from wbspawn.errors import BuildError, WbspawnError
from wbspawn.testrun import runtime_lib
from wbspawn.testrun.wasm_main import hide_main


@dataclass(frozen=True)
class TestBinary:
    """One test binary, ready to be served: cargo's label for it and wasm-bindgen's output."""

    label: str  # as cargo names it: "unittests src/lib.rs", "tests/threads.rs"
    target: str  # the target's name
    out_dir: Path
    js_name: str
    wasm_name: str


@dataclass(frozen=True)
class TestBuild:
    crate_name: str
    binaries: list[TestBinary]
    duration_s: float
    diagnostics: str  # rustc's warnings
    std_threads: str
    stack_checks: str


# rustc's words for two copies of wasm-bindgen in one binary: the crate's own and the runtime's.
_DUPLICATE_BINDGEN = re.compile(r"duplicate symbol: __wbindgen")


def build_tests(
    config: Config,
    toolchain: Toolchain,
    cargo_args: Sequence[str] = (),
    *,
    on_cargo_line: LineSink | None = None,
) -> TestBuild:
    started = time.monotonic()
    env = toolchain.subprocess_env()
    for name in flags.OVERRIDING_ENV:
        env.pop(name, None)
    run, stream = run_captured, run_streaming
    manifest = crate_manifest(config.app_dir)
    metadata = read_metadata(config.app_dir, toolchain, env, deps=False, run=run)
    crate = crate_info_from_metadata(metadata, manifest, cdylib=False)
    threads = std_threads(config, toolchain)
    if not threads.enabled:
        raise WbspawnError(
            f"wbspawn test runs tests on wbspawn's std, which is off here ({threads.describe()})"
        )
    rustc = stdpatch.rustc_info(toolchain)
    checks = stack_checks(config, toolchain, rustc.release, run=run)
    std = sysroot.prepare(
        toolchain,
        rustc,
        std_flavour(config, toolchain),
        config.cache_dir,
        run=run,
        stream=stream,
        on_line=on_cargo_line,
    )
    runtime = runtime_lib.prepare(
        toolchain,
        std,
        config.panic,
        release=config.release,
        cache_dir=config.cache_dir,
        env=env,
        run=run,
        stream=stream,
        on_line=on_cargo_line,
    )
    key = cache_key(config, std.key)
    target = config.cache_dir / "target" / f"test-{key}"
    build_env = {
        **env,
        **flags.build_env(std.rustflags(config.panic)),
        **runtime.env(),
        "CARGO_TARGET_DIR": str(target),
    }
    args = [
        str(toolchain.cargo),
        "test",
        "--no-run",
        "--target",
        flags.TARGET,
        *flags.FRESHNESS_ARGS,
        *(["--release"] if config.release else []),
        *flags.MESSAGE_ARGS,
        *runtime_patch_args(crate),
        *cargo_args,
    ]
    with locking.held(target.with_name(f"test-{key}.lock")):
        if on_cargo_line is None:
            proc = run(args, config.app_dir, build_env)
        else:
            proc = stream(args, config.app_dir, build_env, on_cargo_line)
        diagnostics = cargo_diagnostics(proc.stderr)
        if proc.returncode != 0:
            raise BuildError(_failure(crate.name, proc.stderr), diagnostics)
        built = binaries_built(proc.stdout)
        bindgen_version = locked_wasm_bindgen_version(runtime.lockfile, crate.name)
        bindgen = find_wasm_bindgen(version=bindgen_version)
        check_wasm_bindgen_version(bindgen, bindgen_version, env, config.app_dir, run=run)
        out_root = config.cache_dir / "out" / f"test-{crate.name}-{key}-{app_key(config)}"
        binaries = [
            _prepare_binary(label, name, wasm, out_root, bindgen, checks, env, config.app_dir)
            for label, name, wasm in built
        ]
    return TestBuild(
        crate_name=crate.name,
        binaries=binaries,
        duration_s=time.monotonic() - started,
        diagnostics=diagnostics,
        std_threads=threads.describe(),
        stack_checks=checks.describe(),
    )


def _failure(crate_name: str, stderr: str) -> str:
    if _DUPLICATE_BINDGEN.search(stderr):
        return (
            f"{crate_name}'s tests link wasm-bindgen twice, the crate's own and the wbspawn "
            "runtime's: add `wbspawn` to the crate's [dev-dependencies] so that both use one"
        )
    return f"cargo test --no-run failed for {crate_name} (rustc's errors are above)"


def binaries_built(cargo_stdout: str) -> list[tuple[str, str, Path]]:
    """(cargo's label, target name, .wasm) for each test binary cargo built, in its order."""
    found: list[tuple[str, str, Path]] = []
    for message in artifacts(cargo_stdout):
        executable = message.get("executable")
        if not executable or not message.get("profile", {}).get("test"):
            continue
        target = message.get("target", {})
        found.append((_label(target), str(target.get("name", "")), Path(executable)))
    return found


def _label(target: dict[str, object]) -> str:
    """What cargo prints before a test binary's output: `unittests src/lib.rs`."""
    src = Path(str(target.get("src_path", "")))
    kinds = target.get("kind", [])
    # The path relative to the crate: cargo shows `src/lib.rs`, `tests/threads.rs`.
    shown = "/".join(src.parts[-2:]) if len(src.parts) >= 2 else src.name
    if isinstance(kinds, list) and "test" in kinds:
        return shown
    return f"unittests {shown}"


def prepare_runner_binary(wasm: Path, config: Config, toolchain: Toolchain) -> TestBinary:
    """A test binary cargo built and handed to `wbspawn test-runner` (cargo's runner): made
    ready as `wbspawn test` makes its own, into the cache."""
    if not wasm.is_file():
        raise WbspawnError(f"no test binary at {wasm}: cargo passes the runner its path")
    env = toolchain.subprocess_env()
    rustc = stdpatch.rustc_info(toolchain)
    checks = stack_checks(config, toolchain, rustc.release)
    # Named after the binary's path: two crates' runs at once never share an output dir.
    key = hashlib.sha256(str(wasm.resolve()).encode()).hexdigest()[:12]
    name = wasm.stem.rsplit("-", 1)[0]
    label = f"{name} ({wasm.name})"
    with locking.held(config.cache_dir / "out" / f"test-runner-{key}.lock"):
        return _prepare_binary(
            label,
            name,
            wasm,
            config.cache_dir / "out" / f"test-runner-{key}",
            find_wasm_bindgen(),
            checks,
            env,
            wasm.parent,
        )


def _prepare_binary(
    label: str,
    name: str,
    wasm: Path,
    out_root: Path,
    bindgen: Path,
    checks: stackcheck.StackChecks,
    env: dict[str, str],
    cwd: Path,
) -> TestBinary:
    js_base = name.replace("-", "_")
    kind = "unit" if label.startswith("unittests ") else "test"
    folder = out_root / f"{kind}-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    renamed = folder / f"{js_base}.wasm"
    hide_main(wasm, renamed)
    tool = checks.tool

    def finish(staging: Path) -> None:
        if tool is not None:
            stackcheck.instrument(staging / f"{js_base}_bg.wasm", tool, env)

    out_dir = folder / "pkg"
    run_wasm_bindgen(bindgen, renamed, js_base, out_dir, env, cwd, finish=finish)
    renamed.unlink(missing_ok=True)
    return TestBinary(label, name, out_dir, f"{js_base}.js", f"{js_base}_bg.wasm")
