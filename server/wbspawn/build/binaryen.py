"""binaryen's wasm-opt: which one to use, and running it.

Two jobs run it: the stack checks of every build (build/stackcheck.py) and the release
optimizer of `wbspawn build` (ship/wasmopt.py). Both need one new enough for wasm-bindgen's
output, and both report a failure in one line that says how to get a working one.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wbspawn.build.toolchain import Which
from wbspawn.errors import WbspawnError

INSTALL_HINT = "run `npm install -g binaryen` (or `make setup`), or set WBSPAWN_WASM_OPT"
# binaryen 108 (Debian 12's) writes the export of a module's second table (wasm-bindgen's
# externref table) as the first one, which breaks every app; 116 is the oldest seen right.
MIN_VERSION = 116


@dataclass(frozen=True)
class WasmOpt:
    """A usable wasm-opt, or why there is none."""

    path: Path | None
    version: int = 0
    reason: str = ""  # why not, when there is none


def find(environ: Mapping[str, str] | None = None, *, which: Which = shutil.which) -> WasmOpt:
    """The wasm-opt to use (WBSPAWN_WASM_OPT, else the one on PATH), or why there is none. A
    WBSPAWN_WASM_OPT that does not exist is an error: it was set on purpose."""
    path = find_wasm_opt(environ, which=which)
    if path is None:
        return WasmOpt(None, reason=f"no wasm-opt: {INSTALL_HINT}")
    version = wasm_opt_version(path)
    if version < MIN_VERSION:
        return WasmOpt(
            None,
            reason=f"{path} is binaryen {version}, which breaks wasm-bindgen's output; "
            f"{MIN_VERSION} or newer is needed: {INSTALL_HINT}",
        )
    return WasmOpt(path, version)


def find_wasm_opt(
    environ: Mapping[str, str] | None = None, *, which: Which = shutil.which
) -> Path | None:
    """WBSPAWN_WASM_OPT (it must exist), else `wasm-opt` on PATH; None when there is none."""
    env = os.environ if environ is None else environ
    if override := env.get("WBSPAWN_WASM_OPT"):
        path = Path(override)
        if not path.is_file():
            raise WbspawnError(f"WBSPAWN_WASM_OPT={path} does not exist: point it at wasm-opt")
        return path
    found = which("wasm-opt")
    return Path(found) if found else None


def wasm_opt_version(path: Path) -> int:
    """`132` from `wasm-opt version 132 (version_132)`; 0 when it cannot say."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return 0
    return _version(str(path), stamp)


@functools.lru_cache(maxsize=8)
def _version(path: str, _stamp: int) -> int:
    try:
        proc = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r"version\s+(\d+)", proc.stdout)
    return int(match.group(1)) if match else 0


def run(
    wasm_opt: Path, flags: Sequence[str], wasm: Path, out: Path, timeout_s: float
) -> str | None:
    """Runs `wasm-opt FLAGS wasm -o out`: None when it succeeded, else why not, in a few words.

    No feature flags: wasm-opt takes them from the module's target_features section (`-all`
    would also turn on encodings browsers may not read, such as compact imports)."""
    args = [str(wasm_opt), *flags, str(wasm), "-o", str(out)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not run ({exc}): {INSTALL_HINT}"
    if proc.returncode == 0:
        return None
    first = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[:1]
    why = " ".join(first) or f"exit status {proc.returncode}"
    return f"failed on {wasm.name}: {why} (a binaryen too old for this module's features?)"
