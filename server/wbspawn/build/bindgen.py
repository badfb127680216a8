"""wasm-bindgen: the CLI's version against Cargo.lock, and a run into a staging dir that
replaces the served output only on success."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

from wbspawn.build.process import (
    BuildJob,
    Runner,
    run_captured,
)
from wbspawn.build.splice import LastOutput
from wbspawn.build.toolchain import parse_wasm_bindgen_version
from wbspawn.errors import BuildError, WbspawnError
from wbspawn.swapdir import swap_in


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
    last: LastOutput | None = None,
) -> bool:
    """Generate into a fresh staging dir and swap it in only on success; `finish` gets the
    staging dir before (the stack checks). With `last`, the output is spliced from the last
    one where that is exact (splice.py), and kept for the next build; True if it was.

    A failed or half-written run never replaces the last good output, which the server
    may still be serving; nor does a stopped build.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{out_dir.name}.staging-", dir=out_dir.parent))
    try:
        spliced = last is not None and last.splice(
            wasm, staging, f"{lib_name}_bg.wasm", env, run=run
        )
        if not spliced:
            _generate(bindgen, wasm, lib_name, staging, env, cwd, run=run)
        if last is not None:
            last.remember(wasm, staging)
        if finish is not None:
            finish(staging)
        with contextlib.nullcontext() if job is None else job.last_step():
            swap_in(staging, out_dir)
        return spliced
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _generate(
    bindgen: Path,
    wasm: Path,
    lib_name: str,
    staging: Path,
    env: Mapping[str, str],
    cwd: Path,
    *,
    run: Runner,
) -> None:
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
