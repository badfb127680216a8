"""The Rust tools wbspawn carries as source and builds for the machine it runs on.

One crate so far, `stackcheck/`, with two binaries: the stack-check pass
(build/stackcheck.py) and the splice of a debug build into wasm-bindgen's last output
(build/splice.py). A user of wbspawn has cargo, since they build Rust, and the tool's
dependencies come from crates.io as their app's do; shipping prebuilt binaries for every
platform would be the alternative. It is built once per tool source and compiler into the
cache, at the first build that needs it (about 20 s on 2 cores), under an flock, into a
staging file renamed into place: two builds at once build it once, an interrupted one leaves
nothing that is used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from wbspawn import assets
from wbspawn.build import flags, locking
from wbspawn.build.process import BuildJob, Runner
from wbspawn.build.toolchain import Toolchain
from wbspawn.errors import WbspawnError


def source_digest(source: Path) -> str:
    """A hash of everything the tool is built from."""
    digest = hashlib.sha256()
    files = [source / "Cargo.toml", source / "Cargo.lock", *sorted(source.rglob("*.rs"))]
    for path in files:
        digest.update(str(path.relative_to(source)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def tools_dir(cache_dir: Path) -> Path:
    return cache_dir / "tools"


def built_tool(
    name: str,
    binary: str,
    toolchain: Toolchain,
    cache_dir: Path,
    *,
    run: Runner,
    compiler: str,
    job: BuildJob | None = None,
) -> Path:
    """The binary `binary` of the crate in wbspawn's `name/` assets, built if the cache has
    none for this source and `compiler` (its version, which names the build)."""
    source = assets.asset_dir(name)
    key = hashlib.sha256(f"{source_digest(source)} {compiler}".encode()).hexdigest()[:12]
    folder = tools_dir(cache_dir)
    made = folder / f"{binary}-{key}"
    if made.is_file():
        return made
    with locking.held(folder / f"{binary}.lock", job, poll_s=0.1):
        if made.is_file():
            return made
        target = folder / "target"
        env = toolchain.subprocess_env()
        # The host's build: none of the wasm flags a user may have left in the environment.
        for variable in ("RUSTFLAGS", "CARGO_BUILD_TARGET", *flags.OVERRIDING_ENV):
            env.pop(variable, None)
        env["CARGO_TARGET_DIR"] = str(target)
        args = [
            str(toolchain.cargo),
            "build",
            "--release",
            "--locked",
            "--manifest-path",
            str(source / "Cargo.toml"),
        ]
        proc = run(args, folder, env)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise WbspawnError(f"cargo could not build {binary} ({last})")
        handle, name = tempfile.mkstemp(prefix=f".{binary}-", dir=folder)
        # Closed before it is run: Linux refuses to run a file open for writing (ETXTBSY).
        os.close(handle)
        staged = Path(name)
        try:
            shutil.copy2(target / "release" / binary, staged)
            staged.replace(made)
        except OSError as exc:
            staged.unlink(missing_ok=True)
            raise WbspawnError(f"cannot write {made} ({exc}): check WBSPAWN_CACHE_DIR") from exc
    return made


def chosen(override_env: str) -> Path | None:
    """The binary the environment variable `override_env` names instead of a built one
    (tests use stand-ins), or None if it names none; one that does not exist is an error."""
    override = os.environ.get(override_env)
    if not override:
        return None
    path = Path(override)
    if not path.is_file():
        raise WbspawnError(f"{override_env}={override} does not exist: unset it")
    return path
