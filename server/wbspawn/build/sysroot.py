"""std built once per machine for every app: a sysroot of wbspawn's own.

No std for wasm32 with atomics can be downloaded, so std is compiled from source (cargo's
-Zbuild-std). Compiled inside an app's target dir, it was compiled again for every new app,
every panic mode and every fresh cache: a minute and more on 2 cores before a user saw
anything. Here it is compiled once per compiler, std source (patched or as it ships), panic
mode, profile and flags, into a sysroot in the cache
(`lib/rustlib/wasm32-unknown-unknown/lib/*.rlib`, the layout rustc reads), and every app's
build points rustc at it (`--sysroot` in RUSTFLAGS): cargo then builds only the app's own
crate graph. (xargo and cargo-xbuild worked this way
before build-std existed; no maintained tool shares a build-std std between projects.)

- Honest fingerprints: a sysroot never changes once made. Its directory is named by its key
  (compiler version and commit, the std patch's hash or "plain", panic mode, profile, a hash
  of the flags), and that name is in RUSTFLAGS, which cargo fingerprints: an app built against
  another std is rebuilt, never linked against a std it was not compiled for.
- Concurrent builds: one builds (an flock held across the build), the others wait and find it
  made. A build happens in a staging dir renamed into place only when complete; what an
  interrupted build left is removed by the next.
- Contents: std, core, alloc, the panic runtime, libtest (for `wbspawn test`) and their
  dependencies, with bitcode embedded (as Rust's own sysroots are: an app may use `lto =
  true`). The host's part of the real sysroot (rust-lld, host libs) is linked in beside it,
  so rustc still finds its linker in a rustup toolchain.
- Profiles: apps link an optimized std, as Rust ships it, in debug builds too: its code is a
  third of a debug std's, which wasm-bindgen, the download and the compile in the page all
  feel (a debug build of the demo: 1.9 MB of code instead of 3.1, wasm-bindgen 0.16 s
  instead of 0.27). Except debug builds that unwind, which get a std built as cargo's dev
  profile builds it (without debug info): WebKitGTK 2.50 mishandles wasm exceptions in the
  optimized std's unwinding now and then (a caught panic loses its payload, or the app
  freezes; one run in five of the demo's unwinding build), which the dev-profile std never
  showed in dozens of runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wbspawn.build import flags, locking
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

# For release builds: std as Rust ships its own, optimized, without debug assertions.
[profile.release]
opt-level = 3
debug = false
debug-assertions = false
overflow-checks = false

# For debug builds: as the dev profile builds it (what -Zbuild-std gave), without debug info.
[profile.dev]
opt-level = 0
debug = false
debug-assertions = true
overflow-checks = true
"""
# Bitcode in every rlib, for apps that link with LTO (cargo's own builds leave it out).
_EMBED_BITCODE = "-C embed-bitcode=yes"


@dataclass(frozen=True)
class Flavour:
    """Which std: its source (patched for threads, or not), panic mode and profile."""

    threads: StdThreads
    panic: Panic
    release: bool

    @property
    def profile(self) -> str:
        return "release" if self.release else "debug"


@dataclass(frozen=True)
class Sysroot:
    path: Path
    key: str  # short: names the target dirs of builds against it

    def rustflags(self, panic: Panic) -> str:
        return f"{flags.rustflags(panic)} --sysroot={self.path}"


def sysroot_key(rustc: Rustc, flavour: Flavour) -> str:
    """The name of the sysroot for this compiler, std source, panic mode and profile."""
    recipe = json.dumps(
        {
            "rustflags": flags.rustflags(flavour.panic),
            "args": flags.sysroot_build_args(flavour.panic, release=flavour.release),
            "seed": _SEED_MANIFEST,
            "embed": _EMBED_BITCODE,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:8]
    std = flavour.threads.key if flavour.threads.enabled else "plain"
    return f"{rustc.release}-{rustc.commit[:12]}-{std}-{flavour.panic}-{flavour.profile}-{digest}"


def short_key(key: str) -> str:
    """What names the target dirs of builds against the sysroot `key`."""
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def sysroots_dir(cache_dir: Path) -> Path:
    return cache_dir / "sysroot"


def prepare(
    toolchain: Toolchain,
    rustc: Rustc,
    flavour: Flavour,
    cache_dir: Path,
    *,
    run: Runner,
    stream: StreamRunner,
    on_line: LineSink | None = None,
    job: BuildJob | None = None,
) -> Sysroot:
    """The sysroot for this std flavour, built first if the cache has none."""
    key = sysroot_key(rustc, flavour)
    root = sysroots_dir(cache_dir) / key
    sysroot = Sysroot(root, short_key(key))
    if (root / _READY).is_file():
        return sysroot
    with locking.held(root.with_name(f"{key}.lock"), job, poll_s=0.1):
        if (root / _READY).is_file():  # another build made it while this one waited
            return sysroot
        _build(toolchain, rustc, flavour, root, run, stream, on_line)
    return sysroot


def _build(
    toolchain: Toolchain,
    rustc: Rustc,
    flavour: Flavour,
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
        env = _build_env(toolchain, flavour, staging / "target")
        args = [
            str(toolchain.cargo),
            *flags.sysroot_build_args(flavour.panic, release=flavour.release),
        ]
        proc = run(args, seed, env) if on_line is None else stream(args, seed, env, on_line)
        if proc.returncode != 0:
            raise BuildError(
                f"building std for {flags.TARGET} failed (cargo's errors are above); "
                "`wbspawn doctor` checks the toolchain",
                proc.stderr,
            )
        deps = staging / "target" / flags.TARGET / flavour.profile / "deps"
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
            json.dumps(
                {
                    "rustc": rustc.release,
                    "std": flavour.threads.describe(),
                    "panic": flavour.panic,
                    "profile": flavour.profile,
                }
            ),
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


def _build_env(toolchain: Toolchain, flavour: Flavour, target: Path) -> dict[str, str]:
    env = toolchain.subprocess_env()
    for name in flags.OVERRIDING_ENV:
        env.pop(name, None)
    env.update(flavour.threads.cargo_env())
    env["RUSTFLAGS"] = f"{flags.rustflags(flavour.panic)} {_EMBED_BITCODE}"
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
