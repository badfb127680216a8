"""std built once per machine for every app: a sysroot of wbspawn's own.

No std for wasm32 with atomics can be downloaded, so std is compiled from source (cargo's
-Zbuild-std). Compiled inside an app's target dir, it was compiled again for every new app,
every panic mode and every fresh cache: a minute and more on 2 cores before a user saw
anything. Here it is compiled once per compiler, std source (patched or as it ships), panic
mode and flags, into a sysroot in the cache (`lib/rustlib/wasm32-unknown-unknown/lib/*.rlib`,
the layout rustc reads), and every app's build points rustc at it (`--sysroot` in RUSTFLAGS):
cargo then builds only the app's own crate graph. (xargo and cargo-xbuild worked this way
before build-std existed; no maintained tool shares a build-std std between projects.)

- Honest fingerprints: a sysroot never changes once made. Its directory is named by its key
  (compiler version and commit, the std patch's hash or "plain", panic mode, a hash of the
  flags), and that name is in RUSTFLAGS, which cargo fingerprints: an app built against
  another std is rebuilt, never linked against a std it was not compiled for.
- Concurrent builds: one builds (an flock held across the build), the others wait and find it
  made. A build happens in a staging dir renamed into place only when complete; what an
  interrupted build left is removed by the next.
- Contents: std, core, alloc, the panic runtime, libtest (for `wbspawn test`) and their
  dependencies, compiled in release mode with bitcode embedded (as Rust's own sysroots are:
  an app may use `lto = true`). The host's part of the real sysroot (rust-lld, host libs) is
  linked in beside it, so rustc still finds its linker in a rustup toolchain.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from wbspawn.build import flags
from wbspawn.build.flags import Panic
from wbspawn.build.process import BuildJob, LineSink, Runner, StreamRunner
from wbspawn.build.stdpatch import Rustc, StdThreads
from wbspawn.build.toolchain import Toolchain
from wbspawn.errors import BuildError, WbspawnError

# Marks a sysroot as complete.
_READY = ".wbspawn-sysroot.json"
# The crate whose build makes cargo compile std (it has nothing of its own).
_SEED_NAME = "wbspawn-sysroot"
_SEED_MANIFEST = f"""\
[package]
name = "{_SEED_NAME}"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
path = "lib.rs"

# std as Rust ships its own: optimized, without debug assertions.
[profile.release]
opt-level = 3
debug = false
debug-assertions = false
overflow-checks = false
"""
# Bitcode in every rlib, for apps that link with LTO (cargo's own builds leave it out).
_EMBED_BITCODE = "-C embed-bitcode=yes"


@dataclass(frozen=True)
class Sysroot:
    path: Path
    key: str  # short: names the target dirs of builds against it

    def rustflags(self, panic: Panic) -> str:
        return f"{flags.rustflags(panic)} --sysroot={self.path}"


def sysroot_key(rustc: Rustc, threads: StdThreads, panic: Panic) -> str:
    """The name of the sysroot for this compiler, std source and panic mode."""
    flavour = json.dumps(
        {
            "rustflags": flags.rustflags(panic),
            "crates": flags.build_std_crates(panic),
            "seed": _SEED_MANIFEST,
            "embed": _EMBED_BITCODE,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(flavour.encode()).hexdigest()[:8]
    std = threads.key if threads.enabled else "plain"
    return f"{rustc.release}-{rustc.commit[:12]}-{std}-{panic}-{digest}"


def short_key(key: str) -> str:
    """What names the target dirs of builds against the sysroot `key`."""
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def sysroots_dir(cache_dir: Path) -> Path:
    return cache_dir / "sysroot"


def prepare(
    toolchain: Toolchain,
    rustc: Rustc,
    threads: StdThreads,
    panic: Panic,
    cache_dir: Path,
    *,
    run: Runner,
    stream: StreamRunner,
    on_line: LineSink | None = None,
    job: BuildJob | None = None,
) -> Sysroot:
    """The sysroot for this std and panic mode, built first if the cache has none."""
    key = sysroot_key(rustc, threads, panic)
    root = sysroots_dir(cache_dir) / key
    sysroot = Sysroot(root, short_key(key))
    if (root / _READY).is_file():
        return sysroot
    with _lock(root.with_name(f"{key}.lock"), job):
        if (root / _READY).is_file():  # another build made it while this one waited
            return sysroot
        _build(toolchain, rustc, threads, panic, root, run, stream, on_line)
    return sysroot


@contextlib.contextmanager
def _lock(path: Path, job: BuildJob | None) -> Iterator[None]:
    """An exclusive lock across processes (released by the kernel if the holder dies);
    waiting polls, so a stopped build stops waiting too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        while True:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if job is not None:
                    job.check()
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)


def _build(
    toolchain: Toolchain,
    rustc: Rustc,
    threads: StdThreads,
    panic: Panic,
    root: Path,
    run: Runner,
    stream: StreamRunner,
    on_line: LineSink | None,
) -> None:
    parent = root.parent
    for leftover in parent.glob(f"{root.name}.staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f"{root.name}.staging-", dir=parent))
    except OSError as exc:
        raise WbspawnError(
            f"cannot write std's build into {parent} ({exc}): check the disk and WBSPAWN_CACHE_DIR"
        ) from exc
    try:
        seed = staging / "seed"
        seed.mkdir()
        (seed / "Cargo.toml").write_text(_SEED_MANIFEST, encoding="utf-8")
        (seed / "lib.rs").write_text("#![no_std]\n", encoding="utf-8")
        env = _build_env(toolchain, threads, panic, staging / "target")
        args = [str(toolchain.cargo), *flags.sysroot_build_args(panic)]
        proc = run(args, seed, env) if on_line is None else stream(args, seed, env, on_line)
        if proc.returncode != 0:
            raise BuildError(
                f"building std for {flags.TARGET} failed (cargo's errors are above); "
                "`wbspawn doctor` checks the toolchain",
                proc.stderr,
            )
        deps = staging / "target" / flags.TARGET / "release" / "deps"
        libs = staging / "sysroot" / "lib" / "rustlib" / flags.TARGET / "lib"
        libs.mkdir(parents=True)
        copied = 0
        for rlib in deps.glob("*.rlib"):
            if not rlib.name.startswith(f"lib{_SEED_NAME.replace('-', '_')}-"):
                shutil.copy2(rlib, libs / rlib.name)
                copied += 1
        if copied == 0:
            raise BuildError(f"building std for {flags.TARGET} left no libraries in {deps}")
        _link_host(rustc, staging / "sysroot")
        built = staging / "sysroot"
        (built / _READY).write_text(
            json.dumps({"rustc": rustc.release, "std": threads.describe(), "panic": panic}),
            encoding="utf-8",
        )
        try:
            built.rename(root)
        except OSError:
            if not (root / _READY).is_file():
                shutil.rmtree(root, ignore_errors=True)
                built.rename(root)
    except OSError as exc:
        raise WbspawnError(
            f"cannot write std's build into {parent} ({exc}): check the disk and WBSPAWN_CACHE_DIR"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build_env(
    toolchain: Toolchain, threads: StdThreads, panic: Panic, target: Path
) -> dict[str, str]:
    env = toolchain.subprocess_env()
    for name in flags.OVERRIDING_ENV:
        env.pop(name, None)
    env.update(threads.cargo_env())
    env["RUSTFLAGS"] = f"{flags.rustflags(panic)} {_EMBED_BITCODE}"
    env["CARGO_TARGET_DIR"] = str(target)
    return env


def _link_host(rustc: Rustc, sysroot: Path) -> None:
    """The real sysroot's other targets (the host's: rust-lld, host libraries) beside ours."""
    real = rustc.sysroot / "lib" / "rustlib"
    ours = sysroot / "lib" / "rustlib"
    if not real.is_dir():
        return
    for entry in real.iterdir():
        if entry.name != flags.TARGET and entry.is_dir() and not (ours / entry.name).exists():
            (ours / entry.name).symlink_to(entry, target_is_directory=True)


@dataclass(frozen=True)
class CachedSysroot:
    path: Path
    size_bytes: int
    about: Mapping[str, str]


def cached(cache_dir: Path) -> list[CachedSysroot]:
    """The sysroots in the cache, with their size on disk."""
    found: list[CachedSysroot] = []
    folder = sysroots_dir(cache_dir)
    if not folder.is_dir():
        return found
    for root in sorted(folder.iterdir()):
        ready = root / _READY
        if not ready.is_file():
            continue
        try:
            about = json.loads(ready.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            about = {}
        found.append(CachedSysroot(root, disk_size(root), about))
    return found


def disk_size(root: Path) -> int:
    """Bytes of the files under `root`, not following symlinks (the host's linked part)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(folder) / name).lstat().st_size
    return total
