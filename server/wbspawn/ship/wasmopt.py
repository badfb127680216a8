"""binaryen's optimizer on the release wasm, keeping its stack checks.

The build's wasm already has the stack checks (build/stackcheck.py runs `wasm-opt
--stack-check` on wasm-bindgen's output). Optimizing afterwards keeps them: the checks are
ordinary code that traps, which the optimizer may move but never drops (a trap is a side
effect), and `__set_stack_limits` is an export, which it never removes. What it could change
is how the bounds globals start; `verify` reads them back and fails the build if the checks
are gone or no longer start wide open. (Instrumenting after optimizing would be worse: the
pass finds the stack pointer as the module's first global, an order `-O3` may change.)

Without `-g`, wasm-opt drops the function names (a third of a release wasm): traps then name
`wasm-function[123]` instead of the Rust function. Panic messages do not depend on them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wbspawn.build import binaryen, stackcheck
from wbspawn.config import WASM_OPT_LEVELS
from wbspawn.errors import WbspawnError

# `wbspawn build --wasm-opt LEVEL`; "off" copies the wasm as wasm-bindgen left it.
LEVELS: Final = WASM_OPT_LEVELS
# Measured on the demo (docs/deploying.md#wasm-opt): -O3 is as small as -Os after
# compression and its code is the fastest of the levels tried.
DEFAULT_LEVEL: Final = "O3"


@dataclass(frozen=True)
class Optimized:
    level: str
    before: int  # bytes
    after: int
    seconds: float
    version: int = 0  # binaryen's, 0 when off


def optimize(wasm: Path, level: str) -> Optimized:
    """Optimizes `wasm` in place at `level` (one of LEVELS)."""
    if level not in LEVELS:
        raise WbspawnError(f"--wasm-opt {level!r}: choose one of {', '.join(LEVELS)}")
    before = wasm.stat().st_size
    if level == "off":
        return Optimized(level, before, before, 0.0)
    found = binaryen.find()
    if found.path is None:
        raise WbspawnError(
            f"cannot optimize the release wasm: {found.reason}; or pass --wasm-opt off"
        )
    checked = stackcheck.checks_state(wasm.read_bytes())
    staged = wasm.with_name(wasm.name + ".opt")
    started = time.monotonic()
    failure = binaryen.run(found.path, [f"-{level}"], wasm, staged, timeout_s=900)
    seconds = time.monotonic() - started
    try:
        if failure is not None:
            raise WbspawnError(
                f"`wasm-opt -{level}` {failure}: pass --wasm-opt off to ship it unoptimized"
            )
        verify(staged.read_bytes(), had_checks=checked is not None)
        staged.replace(wasm)
    finally:
        staged.unlink(missing_ok=True)
    return Optimized(level, before, wasm.stat().st_size, seconds, found.version)


def verify(data: bytes, *, had_checks: bool) -> None:
    """The optimized module still has its stack checks, starting wide open."""
    if not had_checks:
        return
    state = stackcheck.checks_state(data)
    if state is None:
        raise WbspawnError(
            "wasm-opt removed the stack checks (no __set_stack_limits): pass --wasm-opt off, "
            "or --no-stack-check to build without them"
        )
    if not state:
        raise WbspawnError(
            "wasm-opt changed how the stack checks start (every thread would trap at once): "
            "pass --wasm-opt off, or --no-stack-check to build without them"
        )
