"""One build of the app crate: cargo (shared-memory wasm) then wasm-bindgen (--target web)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from wbspawn import ansi, flags, stackcheck, stdpatch
from wbspawn.config import Config
from wbspawn.errors import WbspawnError
from wbspawn.toolchain import Toolchain, find_wasm_bindgen, parse_wasm_bindgen_version

# Called with each tool's process as soon as it starts (so that another thread can stop it).
ProcessHook = Callable[[subprocess.Popen[str]], None]
# Receives each stdout line (cargo's JSON messages) while the process runs.
LineSink = Callable[[str], None]


class Runner(Protocol):
    """(args, cwd, env) -> finished process with text stdout/stderr; never raises on exit
    status."""

    def __call__(
        self,
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        *,
        on_start: ProcessHook | None = None,
    ) -> subprocess.CompletedProcess[str]: ...


class StreamRunner(Protocol):
    """Like Runner, plus a LineSink: how the dev server shows cargo's progress as it happens."""

    def __call__(
        self,
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        on_line: LineSink,
        *,
        on_start: ProcessHook | None = None,
    ) -> subprocess.CompletedProcess[str]: ...


CDYLIB_FIX = '[lib] crate-type = ["cdylib", "rlib"]'

# How long a stopped build's tools get to exit on SIGTERM before what is left gets SIGKILL.
STOP_GRACE_S = 2.0


def _start(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    # A session (so a process group) of its own: cargo's rustc and build-script children
    # can be ended together with it (SIGTERM to cargo alone leaves them running), and a
    # Ctrl-C at the terminal reaches wbspawn only, which decides what to stop.
    return subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _signal_group(pgid: int, sig: int) -> bool:
    """Sends `sig` to a process group; False if the group is gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # gone (or the id now belongs to others)
        return False
    return True


def end_process_group(proc: subprocess.Popen[str], grace_s: float = STOP_GRACE_S) -> None:
    """Ends a tool started here and everything it started: SIGTERM to its process group,
    SIGKILL to whatever is left after `grace_s`. Blocks until then at most."""
    if not _signal_group(proc.pid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()  # reaps the leader: a zombie still holds its group
        if not _signal_group(proc.pid, 0):
            return
        time.sleep(0.02)
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace_s)


def run_captured(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    *,
    on_start: ProcessHook | None = None,
) -> subprocess.CompletedProcess[str]:
    with _start(args, cwd, env) as proc:
        try:
            if on_start is not None:
                on_start(proc)
            stdout, stderr = proc.communicate()
        except BaseException:  # Ctrl-C, or the build stopped: the tool must not live on
            end_process_group(proc)
            raise
    return subprocess.CompletedProcess(list(args), proc.returncode, stdout, stderr)


def run_streaming(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    on_line: LineSink,
    *,
    on_start: ProcessHook | None = None,
) -> subprocess.CompletedProcess[str]:
    """run_captured, but stdout lines reach `on_line` as they come.

    `on_start` gets the process, so a server shutting down can stop a build mid-way.
    """
    proc = _start(args, cwd, env)
    stdout, stderr = proc.stdout, proc.stderr
    if stdout is None or stderr is None:  # pragma: no cover - both are pipes above
        raise RuntimeError("subprocess pipes missing")
    stderr_lines: list[str] = []
    # stderr is drained on its own thread: a full stderr pipe would stall cargo, and then
    # stdout, and this loop with it.
    drain = threading.Thread(target=lambda: stderr_lines.extend(stderr), daemon=True)
    drain.start()
    stdout_lines: list[str] = []
    with stdout, stderr:
        try:
            if on_start is not None:
                on_start(proc)
            for line in stdout:
                stdout_lines.append(line)
                on_line(line.rstrip("\n"))
            returncode = proc.wait()
        except BaseException:  # Ctrl-C, or the build stopped: the tool must not live on
            end_process_group(proc)
            raise
        finally:
            drain.join()
    return subprocess.CompletedProcess(
        list(args), returncode, "".join(stdout_lines), "".join(stderr_lines)
    )


class BuildStopped(WbspawnError):
    """The build was stopped before it finished: newer changes came in, or the server is
    going away."""

    def __init__(self) -> None:
        super().__init__("the build was stopped before it finished")


class BuildJob:
    """One build that another thread may stop.

    `stop()` ends the tool running now with its whole process group, and keeps the build
    from starting another tool or from replacing the served output. Once the output is
    swapped in (`last_step`), the build is done and there is nothing left to stop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = False
        self._done = False
        self._processes: list[subprocess.Popen[str]] = []

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> bool:
        """Stops the build unless it is done; True if it was stopped.

        Never blocks (it is called on the event loop): the SIGTERM goes out at once, the
        wait for the group to end and the SIGKILL after it run on a thread. Not a daemon
        thread: an exiting server still finishes them.
        """
        with self._lock:
            if self._done:
                return False
            self._stopped = True
            running = [p for p in self._processes if p.returncode is None]
        for proc in running:
            threading.Thread(
                target=end_process_group, args=(proc,), name="wbspawn-stop-build"
            ).start()
        return True

    def check(self) -> None:
        if self._stopped:
            raise BuildStopped

    def started(self, proc: subprocess.Popen[str]) -> None:
        """The ProcessHook of this build's tools."""
        with self._lock:
            if not self._stopped:
                self._processes.append(proc)
                return
        end_process_group(proc)
        raise BuildStopped

    @contextlib.contextmanager
    def last_step(self) -> Iterator[None]:
        """Holds `stop()` off while the output is swapped in: a build is either stopped
        before it, or done."""
        with self._lock:
            if self._stopped:
                raise BuildStopped
            yield
            self._done = True


# Cargo's own status lines ("   Compiling foo v0.1.0", right-aligned verbs). The dev server
# shows progress from the JSON messages instead; what is left is what rustc has to say.
_CARGO_STATUS = re.compile(
    r"^\s+(Compiling|Checking|Fresh|Finished|Blocking|Running|Updating|Downloading|"
    r"Downloaded|Locking|Adding|Removing|Unpacking|Building|Dirty|Documenting)\s"
)


# rustc says this for every crate built with the shared-memory flags: it is about the flags,
# never about the user's code, and would bury their own warnings.
_FLAG_WARNING = "warning: unstable feature specified for `-Ctarget-feature`: `atomics`"
# Cargo's per-crate tally ("`demo` (lib) generated 1 warning"), which counts the one above.
_SUMMARY = re.compile(r"^warning: `[^`]+` \([\w ]+\) generated \d+ warnings?")


def cargo_diagnostics(stderr: str) -> str:
    """Cargo's stderr without its progress lines, tallies and the flags' own warning: what
    rustc has to say about the code (colours kept)."""
    kept: list[str] = []
    skipping = False
    for line in stderr.splitlines():
        plain = ansi.plain(line)
        if skipping:
            skipping = bool(plain.strip())  # the warning's block ends at a blank line
            continue
        if plain.startswith(_FLAG_WARNING):
            skipping = True
        elif not _CARGO_STATUS.match(plain) and not _SUMMARY.match(plain):
            kept.append(line)
    return "\n".join(kept).strip("\n")


class BuildError(WbspawnError):
    """A failed cargo or wasm-bindgen run; `diagnostics` is the tool's full stderr."""

    def __init__(self, message: str, diagnostics: str = "") -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path  # wasm-bindgen's output, served at /pkg/
    js_name: str  # e.g. "demo.js"
    wasm_name: str  # e.g. "demo_bg.wasm"
    crate_name: str  # the Cargo package name
    duration_s: float
    cargo_s: float
    bindgen_s: float
    # rustc's warnings (rendered, with colours) when the build succeeded with some.
    diagnostics: str = ""
    # What `cargo metadata` said, for the next build to reuse.
    crate: CrateInfo | None = None
    # One line each: whether std::thread works and whether stacks are checked, and why not.
    std_threads: str = ""
    stack_checks: str = ""
    # cargo's .wasm, before wasm-bindgen.
    cargo_wasm: Path | None = None


@dataclass(frozen=True)
class CrateInfo:
    name: str  # package name, e.g. "my-app"
    lib_name: str  # lib target name, e.g. "my_app": names the .wasm and the .js
    package_id: str
    lockfile: Path


def cache_key(config: Config, crate_name: str, std_key: str = "") -> str:
    # One target dir per crate name and profile: RUSTFLAGS and build-std make a target dir
    # expensive to fill (minutes), and mixing profiles would thrash it. Not keyed by the
    # app's path: a copy of an app (a test fixture, a second checkout) reuses the built std
    # and its dependencies, and cargo keeps each path's own crates apart by package id.
    # Sharing is made safe by `target_dir_lock`.
    # An unwinding build has other RUSTFLAGS and another std: a target dir of its own; so has
    # a build with a patched std (`std_key` names the patch: cargo does not notice when std's
    # source changes, so a new patch must not find the old std built).
    suffix = "-unwind" if config.panic == "unwind" else ""
    std = f"-{std_key}" if std_key else ""
    return f"{crate_name}-{config.profile}{suffix}{std}"


def app_key(config: Config) -> str:
    """A short name for the app's resolved path."""
    return hashlib.sha256(str(config.app_dir).encode()).hexdigest()[:12]


def target_dir(config: Config, crate_name: str, std_key: str = "") -> Path:
    return config.cache_dir / "target" / cache_key(config, crate_name, std_key)


def output_dir(config: Config, crate_name: str, std_key: str = "") -> Path:
    # Unlike the target dir, one per app and build flavour: what one server serves at /pkg/
    # must never be replaced by another app's build that has the same crate name, nor by a
    # build of this app with other settings (another std, no stack checks).
    checks = "" if config.stack_check else "-nocheck"
    key = f"{cache_key(config, crate_name, std_key)}{checks}-{app_key(config)}"
    return config.cache_dir / "out" / key / "pkg"


def lock_path(config: Config, crate_name: str, std_key: str = "") -> Path:
    key = cache_key(config, crate_name, std_key)
    return target_dir(config, crate_name, std_key).with_name(f"{key}.lock")


@contextlib.contextmanager
def target_dir_lock(
    config: Config, crate_name: str, job: BuildJob | None = None, std_key: str = ""
) -> Iterator[None]:
    """Holds the shared target dir from `cargo build` until wasm-bindgen has read the .wasm.

    Every app with this crate name (another server, `wbspawn check`, a copy of the app)
    builds in the same target dir, and cargo writes the same `<lib>.wasm` path for all of
    them. Cargo's own lock covers its run only: between its end and wasm-bindgen reading
    the file, another app's cargo could overwrite it, and this app would serve the other's
    code. An exclusive lock across processes (flock, released by the kernel if a holder
    dies) makes the two steps one. It is held until the output is swapped in, too: two
    servers on one app would otherwise race to rename the same output dir. Waiting polls,
    so a stopped build stops waiting too.
    """
    path = lock_path(config, crate_name, std_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        while True:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if job is not None:
                    job.check()
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)


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
    threads = (
        stdpatch.prepare(toolchain, config.cache_dir)
        if config.std_threads
        else stdpatch.disabled("turned off by --no-std-threads or std-threads = false")
    )
    checks = (
        stackcheck.find()
        if config.stack_check
        else stackcheck.StackChecks(None, reason="turned off by --no-stack-check")
    )

    with target_dir_lock(config, crate.name, job, threads.key):
        cargo_started = time.monotonic()
        wasm, diagnostics = cargo_build(
            config,
            toolchain,
            crate,
            {**env, **threads.cargo_env()},
            run=run,
            on_line=on_cargo_line,
            stream=stream,
            std_key=threads.key,
        )
        cargo_s = time.monotonic() - cargo_started

        bindgen_started = time.monotonic()
        required = locked_wasm_bindgen_version(crate.lockfile, crate.name)
        bindgen = find_wasm_bindgen(version=required)
        check_wasm_bindgen_version(bindgen, required, env, config.app_dir, run=run)
        out_dir = output_dir(config, crate.name, threads.key)
        wasm_opt = checks.wasm_opt

        def finish(staging: Path) -> None:
            if wasm_opt is not None:
                if job is not None:
                    job.check()
                stackcheck.instrument(staging / f"{crate.lib_name}_bg.wasm", wasm_opt)

        run_wasm_bindgen(
            bindgen,
            wasm,
            crate.lib_name,
            out_dir,
            env,
            config.app_dir,
            run=run,
            job=job,
            finish=finish,
        )
        bindgen_s = time.monotonic() - bindgen_started

    return BuildResult(
        out_dir=out_dir,
        js_name=f"{crate.lib_name}.js",
        wasm_name=f"{crate.lib_name}_bg.wasm",
        crate_name=crate.name,
        duration_s=time.monotonic() - started,
        cargo_s=cargo_s,
        bindgen_s=bindgen_s,
        diagnostics=diagnostics,
        crate=crate,
        std_threads=threads.describe(),
        stack_checks=checks.describe(),
        cargo_wasm=wasm,
    )


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


def read_crate_info(
    app_dir: Path, toolchain: Toolchain, env: Mapping[str, str], *, run: Runner = run_captured
) -> CrateInfo:
    manifest = app_dir / "Cargo.toml"
    if not manifest.is_file():
        raise WbspawnError(f"no Cargo.toml in {app_dir}: pass the directory of a Rust crate")
    metadata = read_metadata(app_dir, toolchain, env, deps=False, run=run)
    return crate_info_from_metadata(metadata, manifest)


def read_metadata(
    app_dir: Path,
    toolchain: Toolchain,
    env: Mapping[str, str],
    *,
    deps: bool,
    run: Runner = run_captured,
) -> dict[str, Any]:
    """`cargo metadata` for the crate in app_dir; with `deps`, every package it depends on."""
    manifest = app_dir / "Cargo.toml"
    args = [str(toolchain.cargo), "metadata", "--format-version", "1"]
    if not deps:
        args.append("--no-deps")
    proc = run(args, app_dir, env)
    if proc.returncode != 0:
        raise BuildError(
            f"`cargo metadata` failed in {app_dir}: fix {manifest} (errors above)",
            proc.stderr,
        )
    try:
        metadata: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise BuildError(f"`cargo metadata` printed invalid JSON ({exc})", proc.stderr) from exc
    return metadata


def crate_info_from_metadata(metadata: dict[str, Any], manifest: Path) -> CrateInfo:
    wanted = manifest.resolve()
    package = next(
        (p for p in metadata.get("packages", []) if Path(p["manifest_path"]).resolve() == wanted),
        None,
    )
    if package is None:
        # A virtual workspace manifest has members but no package of its own.
        raise WbspawnError(
            f"{manifest} defines no package: pass the directory of the crate to serve"
        )
    name: str = package["name"]
    lib = next((t for t in package.get("targets", []) if _is_lib_target(t)), None)
    if lib is None:
        raise WbspawnError(
            f"crate {name} has no library target: add src/lib.rs and `{CDYLIB_FIX}` to {manifest}"
        )
    if "cdylib" not in lib.get("crate_types", lib.get("kind", [])):
        raise WbspawnError(
            f"crate {name} does not build a cdylib, which wasm needs: "
            f"add `{CDYLIB_FIX}` to {manifest}"
        )
    return CrateInfo(
        name=name,
        lib_name=str(lib["name"]).replace("-", "_"),
        package_id=str(package.get("id", "")),
        lockfile=Path(metadata["workspace_root"]) / "Cargo.lock",
    )


_LIB_KINDS = frozenset({"lib", "rlib", "cdylib", "dylib", "staticlib"})


def _is_lib_target(target: dict[str, Any]) -> bool:
    return bool(_LIB_KINDS.intersection(target.get("kind", [])))


def cargo_build(
    config: Config,
    toolchain: Toolchain,
    crate: CrateInfo,
    env: Mapping[str, str],
    *,
    run: Runner = run_captured,
    on_line: LineSink | None = None,
    stream: StreamRunner = run_streaming,
    std_key: str = "",
) -> tuple[Path, str]:
    """Build the lib for wasm: the .wasm cargo reports, and rustc's warnings."""
    build_env = {
        **env,
        **flags.build_env(config.panic),
        "CARGO_TARGET_DIR": str(target_dir(config, crate.name, std_key)),
    }
    args = [
        str(toolchain.cargo),
        *flags.cargo_build_args(release=config.release, panic=config.panic),
    ]
    if on_line is None:
        proc = run(args, config.app_dir, build_env)
    else:
        proc = stream(args, config.app_dir, build_env, on_line)
    if proc.returncode != 0:
        raise BuildError(cargo_failure(crate.name, proc.stderr), cargo_diagnostics(proc.stderr))
    wasm = wasm_artifact(proc.stdout, crate)
    if wasm is None:
        raise BuildError(
            f"cargo build of {crate.name} reported no .wasm file: check that the crate "
            f"builds a cdylib (`{CDYLIB_FIX}`)",
            proc.stderr,
        )
    return wasm, cargo_diagnostics(proc.stderr)


# The linker's words when std's patched threads find no runtime to call.
_MISSING_RUNTIME = re.compile(r"undefined symbol: __wbspawn_")


def cargo_failure(crate_name: str, stderr: str) -> str:
    """The one line for a failed cargo build."""
    if _MISSING_RUNTIME.search(ansi.plain(stderr)):
        return (
            f"{crate_name} uses std's threads but does not link the wbspawn crate, which starts "
            "them: add wbspawn to [dependencies] and `use wbspawn as _;` to src/lib.rs"
        )
    return f"cargo build failed for {crate_name} (rustc's errors are above)"


def wasm_artifact(cargo_stdout: str, crate: CrateInfo) -> Path | None:
    """The .wasm from cargo's `compiler-artifact` messages for this crate's lib."""
    for line in cargo_stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-artifact":
            continue
        if crate.package_id and message.get("package_id") not in (crate.package_id, None):
            continue
        for filename in message.get("filenames", []):
            if filename.endswith(".wasm"):
                return Path(filename)
    return None


def locked_wasm_bindgen_version(lockfile: Path, crate_name: str) -> str:
    try:
        lock = tomllib.loads(lockfile.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise WbspawnError(
            f"no Cargo.lock at {lockfile} after the build: run `cargo generate-lockfile`"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise WbspawnError(f"cannot parse {lockfile} ({exc}): regenerate it") from exc
    versions = sorted(
        {str(p["version"]) for p in lock.get("package", []) if p.get("name") == "wasm-bindgen"}
    )
    if not versions:
        raise WbspawnError(
            f"crate {crate_name} does not depend on wasm-bindgen: run `cargo add wasm-bindgen`"
        )
    if len(versions) > 1:
        raise WbspawnError(
            f"{lockfile} locks several wasm-bindgen versions ({', '.join(versions)}): "
            "run `cargo update -p wasm-bindgen` until one is left"
        )
    return versions[0]


def check_wasm_bindgen_version(
    bindgen: Path,
    required: str,
    env: Mapping[str, str],
    cwd: Path,
    *,
    run: Runner = run_captured,
) -> None:
    # The CLI rewrites the module using a schema private to one crate version: any other
    # version fails, or worse, produces glue that breaks at run time.
    proc = run([str(bindgen), "--version"], cwd, env)
    if proc.returncode != 0:
        raise BuildError(
            f"`{bindgen} --version` failed: reinstall with "
            f"`cargo install wasm-bindgen-cli --version ={required} --locked`",
            proc.stderr,
        )
    found = parse_wasm_bindgen_version(proc.stdout)
    if found != required:
        raise WbspawnError(
            f"wasm-bindgen CLI {found} ({bindgen}) does not match wasm-bindgen {required} "
            f"in Cargo.lock: run `cargo install wasm-bindgen-cli --version ={required} --locked`"
        )


def run_wasm_bindgen(
    bindgen: Path,
    wasm: Path,
    lib_name: str,
    out_dir: Path,
    env: Mapping[str, str],
    cwd: Path,
    *,
    run: Runner = run_captured,
    job: BuildJob | None = None,
    finish: Callable[[Path], None] | None = None,
) -> None:
    """Generate into a fresh staging dir and swap it in only on success; `finish` gets the
    staging dir before (the stack checks).

    A failed or half-written run never replaces the last good output, which the server
    may still be serving; nor does a stopped build.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{out_dir.name}.staging-", dir=out_dir.parent))
    try:
        args = [
            str(bindgen),
            "--target",
            "web",
            "--out-dir",
            str(staging),
            "--out-name",
            lib_name,
            str(wasm),
        ]
        proc = run(args, cwd, env)
        if proc.returncode != 0:
            raise BuildError(
                f"wasm-bindgen failed on {wasm.name} (its errors are above): "
                "check that the crate was built with the wbspawn flags",
                proc.stderr,
            )
        if finish is not None:
            finish(staging)
        with contextlib.nullcontext() if job is None else job.last_step():
            _swap_in(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, out_dir: Path) -> None:
    old: Path | None = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f"{out_dir.name}.old-", dir=out_dir.parent))
        # rename() onto an existing dir only works if it is empty: move the old output
        # inside the fresh temp dir, then the staging dir into place.
        out_dir.rename(old / out_dir.name)
    staging.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
