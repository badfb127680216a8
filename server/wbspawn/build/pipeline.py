"""One build of the app crate: std (once per machine: sysroot.py), cargo (shared-memory wasm
against that std), then wasm-bindgen (--target web), then the stack checks; where each
build's files go."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wbspawn.build import flags, locking, splice, stackcheck, stdpatch, sysroot
from wbspawn.build.bindgen import (
    check_wasm_bindgen_version,
    locked_wasm_bindgen_version,
    run_wasm_bindgen,
)
from wbspawn.build.cargo import CrateInfo, cargo_build, read_crate_info
from wbspawn.build.process import (
    BuildJob,
    LineSink,
    ProcessHook,
    Runner,
    StreamRunner,
    run_captured,
    run_streaming,
)
from wbspawn.build.toolchain import Toolchain, find_wasm_bindgen
from wbspawn.config import Config


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path  # wasm-bindgen's output, served at /pkg/
    js_name: str  # e.g. "demo.js"
    wasm_name: str  # e.g. "demo_bg.wasm"
    crate_name: str  # the Cargo package name
    duration_s: float
    cargo_s: float
    bindgen_s: float
    stackcheck_s: float = 0.0
    # Whether wasm-bindgen's last output was reused (splice.py) instead of a run of it.
    spliced: bool = False
    # rustc's warnings (rendered, with colours) when the build succeeded with some.
    diagnostics: str = ""
    # What `cargo metadata` said, for the next build to reuse.
    crate: CrateInfo | None = None
    # One line each: whether std::thread works and whether stacks are checked, and why not.
    std_threads: str = ""
    stack_checks: str = ""
    # cargo's .wasm, before wasm-bindgen.
    cargo_wasm: Path | None = None
    # The std it was built against.
    sysroot: sysroot.Sysroot | None = None


def cache_key(config: Config, sysroot_key: str = "") -> str:
    # One target dir per profile and std, shared by every app on the machine: a new app finds
    # its dependencies (wasm-bindgen and its macros, rayon, ...) built by the apps before it
    # and compiles only its own crates, as every project sharing a CARGO_TARGET_DIR does;
    # cargo keeps apart what differs (versions, features, each path's own crates). Sharing is
    # made safe by `target_dir_lock` and `claim_artifact`; builds of two apps take turns.
    # Mixing profiles would thrash it, and a build against another std (another sysroot:
    # another compiler, std patch or panic mode) rebuilds every crate (RUSTFLAGS name the
    # sysroot): a target dir each.
    std = f"-{sysroot_key}" if sysroot_key else ""
    return f"{config.profile}{std}"


def std_threads(config: Config, toolchain: Toolchain) -> stdpatch.StdThreads:
    """The std a build of `config` uses: patched for threads, or as it ships."""
    if not config.std_threads:
        return stdpatch.disabled("turned off by --no-std-threads or std-threads = false")
    return stdpatch.prepare(toolchain, config.cache_dir)


def stack_checks(
    config: Config,
    toolchain: Toolchain,
    compiler: str,
    *,
    run: Runner = run_captured,
    job: BuildJob | None = None,
) -> stackcheck.StackChecks:
    """The stack-check pass `config`'s builds run, or why they run none."""
    if not config.stack_check:
        return stackcheck.turned_off("turned off by --no-stack-check")
    return stackcheck.prepare(toolchain, config.cache_dir, compiler, run=run, job=job)


def std_key(config: Config, toolchain: Toolchain) -> str:
    """What names the target and output dirs of `config`'s builds: its std (`sysroot.py`)."""
    rustc = stdpatch.rustc_info(toolchain)
    return sysroot.short_key(sysroot.sysroot_key(rustc, std_flavour(config, toolchain)))


def std_flavour(config: Config, toolchain: Toolchain) -> sysroot.Flavour:
    """The std `config`'s builds link: patched or not, its panic mode, and optimized except
    for debug builds that unwind (sysroot.py says why)."""
    optimized = config.release or config.panic == "abort"
    return sysroot.Flavour(std_threads(config, toolchain), config.panic, optimized)


def app_key(config: Config) -> str:
    """A short name for the app's resolved path."""
    return hashlib.sha256(str(config.app_dir).encode()).hexdigest()[:12]


def target_dir(config: Config, sysroot_key: str = "") -> Path:
    return config.cache_dir / "target" / cache_key(config, sysroot_key)


def output_dir(config: Config, crate_name: str, sysroot_key: str = "") -> Path:
    # Unlike the target dir, one per app and build flavour: what one server serves at /pkg/
    # must never be replaced by another app's build, nor by a build of this app with other
    # settings (another std, no stack checks).
    checks = "" if config.stack_check else "-nocheck"
    key = f"{crate_name}-{cache_key(config, sysroot_key)}{checks}-{app_key(config)}"
    return config.cache_dir / "out" / key / "pkg"


def lock_path(config: Config, sysroot_key: str = "") -> Path:
    key = cache_key(config, sysroot_key)
    return target_dir(config, sysroot_key).with_name(f"{key}.lock")


@contextlib.contextmanager
def target_dir_lock(
    config: Config, job: BuildJob | None = None, sysroot_key: str = ""
) -> Iterator[None]:
    """Holds the shared target dir from `cargo build` until wasm-bindgen has read the .wasm.

    Every app (another server, `wbspawn check`, a copy of the app) builds in the same target
    dir, and cargo writes the same `<lib>.wasm` path for all apps of one crate name. Cargo's
    own lock covers its run only: between its end and wasm-bindgen reading the file, another
    app's cargo could overwrite it, and this app would serve the other's code. An exclusive
    lock across processes (flock, released by the kernel if a holder dies) makes the two
    steps one. It is held until the output is swapped in, too: two servers on one app would
    otherwise race to rename the same output dir. Waiting polls, so a stopped build stops
    waiting too.
    """
    with locking.held(lock_path(config, sysroot_key), job):
        yield


def claim_artifact(target: Path, crate: CrateInfo, config: Config) -> None:
    """Makes cargo link this app's crate if another app with its name was built here last.

    Cargo names a cdylib's .wasm after the crate alone (`deps/<lib>.wasm`, no hash), so two
    apps of one name in a shared target dir overwrite each other's, while each one's own
    fingerprint still says it is fresh: the second build would hand wasm-bindgen the first
    app's code. Each target dir remembers whose the .wasm is; for another app, its crate's
    fingerprints go, so cargo compiles and links it again (its dependencies and std stay).
    Called with the target dir locked.
    """
    owner = target / f".wbspawn-owner-{crate.lib_name}"
    me = str(config.app_dir)
    try:
        previous = owner.read_text(encoding="utf-8")
    except OSError:
        previous = None
    if previous == me:
        return
    # An unknown owner (a target dir from before this record) may be anyone's, too.
    for fingerprints in target.glob(f"*/{config.profile}/.fingerprint/{crate.name}-*"):
        shutil.rmtree(fingerprints, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)
    owner.write_text(me, encoding="utf-8")


def build(
    config: Config,
    toolchain: Toolchain,
    *,
    run: Runner = run_captured,
    on_cargo_line: LineSink | None = None,
    stream: StreamRunner = run_streaming,
    crate: CrateInfo | None = None,
    job: BuildJob | None = None,
) -> BuildResult:
    """Build the app. With `on_cargo_line`, cargo runs through `stream` and its JSON messages
    reach the callback while it runs; without, every tool runs through `run`. `crate` skips
    `cargo metadata` (the dev loop keeps it until a manifest changes). With `job`, another
    thread can stop the build (`BuildJob.stop`); a stopped build raises BuildStopped, or
    the error of the tool it ended, and never replaces the served output."""
    started = time.monotonic()
    env = toolchain.subprocess_env()
    for name in flags.OVERRIDING_ENV:
        env.pop(name, None)
    if job is not None:
        run, stream = _tracked(run, stream, job)

    if crate is None:
        crate = read_crate_info(config.app_dir, toolchain, env, run=run)
    threads = std_threads(config, toolchain)
    rustc = stdpatch.rustc_info(toolchain)
    checks = stack_checks(config, toolchain, rustc.release, run=run, job=job)
    splicer = (
        None
        if config.release
        else splice.prepare(toolchain, config.cache_dir, rustc.release, run=run, job=job)
    )
    std = sysroot.prepare(
        toolchain,
        rustc,
        std_flavour(config, toolchain),
        config.cache_dir,
        run=run,
        stream=stream,
        on_line=on_cargo_line,
        job=job,
    )

    with target_dir_lock(config, job, std.key):
        target = target_dir(config, std.key)
        claim_artifact(target, crate, config)
        cargo_started = time.monotonic()
        wasm, diagnostics = cargo_build(
            config,
            toolchain,
            crate,
            env,
            run=run,
            on_line=on_cargo_line,
            stream=stream,
            target=target,
            rustflags=std.rustflags(config.panic),
        )
        cargo_s = time.monotonic() - cargo_started

        bindgen_started = time.monotonic()
        required = locked_wasm_bindgen_version(crate.lockfile, crate.name)
        bindgen = find_wasm_bindgen(version=required)
        check_wasm_bindgen_version(bindgen, required, env, config.app_dir, run=run)
        out_dir = output_dir(config, crate.name, std.key)
        check_tool = checks.tool
        stackcheck_s = 0.0

        def finish(staging: Path) -> None:
            nonlocal stackcheck_s
            if check_tool is not None:
                if job is not None:
                    job.check()
                pass_started = time.monotonic()
                wasm_file = staging / f"{crate.lib_name}_bg.wasm"
                stackcheck.instrument(wasm_file, check_tool, env, run=run)
                stackcheck_s = time.monotonic() - pass_started

        last = None
        if splicer is not None:
            made_by = f"wasm-bindgen {required} --target web --out-name {crate.lib_name}"
            last = splice.LastOutput.beside(out_dir, splicer, made_by, env)
        spliced = run_wasm_bindgen(
            bindgen,
            wasm,
            crate.lib_name,
            out_dir,
            env,
            config.app_dir,
            run=run,
            job=job,
            finish=finish,
            last=last,
        )
        bindgen_s = time.monotonic() - bindgen_started - stackcheck_s

    return BuildResult(
        out_dir=out_dir,
        js_name=f"{crate.lib_name}.js",
        wasm_name=f"{crate.lib_name}_bg.wasm",
        crate_name=crate.name,
        duration_s=time.monotonic() - started,
        cargo_s=cargo_s,
        bindgen_s=bindgen_s,
        stackcheck_s=stackcheck_s,
        spliced=spliced,
        diagnostics=diagnostics,
        crate=crate,
        std_threads=threads.describe(),
        stack_checks=checks.describe(),
        cargo_wasm=wasm,
        sysroot=std,
    )


def cargo_env(
    config: Config, toolchain: Toolchain, *, run: Runner = run_captured
) -> tuple[dict[str, str], sysroot.Sysroot]:
    """What a shell needs to run cargo itself (check, clippy, rust-analyzer) as wbspawn's build
    does: the toolchain, the target, and the flags with the sysroot (built first if missing);
    and that sysroot."""
    rustc = stdpatch.rustc_info(toolchain)
    std = sysroot.prepare(
        toolchain,
        rustc,
        std_flavour(config, toolchain),
        config.cache_dir,
        run=run,
        stream=run_streaming,
    )
    env = {name: value for name, value in toolchain.env.items() if name != "PATH"}
    if toolchain.path:
        env["PATH"] = toolchain.path
    env["CARGO_BUILD_TARGET"] = flags.TARGET
    env["RUSTFLAGS"] = std.rustflags(config.panic)
    # rustdoc (cargo test's doc-tests, cargo doc) reads its own flags.
    env["RUSTDOCFLAGS"] = env["RUSTFLAGS"]
    return env, std


def _tracked(run: Runner, stream: StreamRunner, job: BuildJob) -> tuple[Runner, StreamRunner]:
    """The runners, made to start no tool once the job is stopped and to hand it each one."""

    def hook(on_start: ProcessHook | None) -> ProcessHook:
        def started(proc: subprocess.Popen[str]) -> None:
            job.started(proc)
            if on_start is not None:
                on_start(proc)

        return started

    def tracked_run(
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        *,
        on_start: ProcessHook | None = None,
    ) -> subprocess.CompletedProcess[str]:
        job.check()
        return run(args, cwd, env, on_start=hook(on_start))

    def tracked_stream(
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        on_line: LineSink,
        *,
        on_start: ProcessHook | None = None,
    ) -> subprocess.CompletedProcess[str]:
        job.check()
        return stream(args, cwd, env, on_line, on_start=hook(on_start))

    return tracked_run, tracked_stream
