"""Stack overflow checks: every thread's stack gets a limit the code cannot pass.

A wasm thread's stack is a block of the shared heap with nothing below it but other data, so
an overflow silently overwrites the heap (other threads' stacks, the allocator, the pool) and
the app fails later in ways that point nowhere near the cause. The stack-check pass
(`stackcheck/`, a small Rust tool wbspawn builds for the machine: rusttool.py) puts a bounds
check before every write of the stack pointer and exports `__set_stack_limits(base, limit)`,
as binaryen's `--stack-check` does, in a fraction of its time (binaryen compiled to JavaScript,
the one this project's machines can install, took 1.3 s on a debug build). A write out of
bounds traps at once, before any memory is touched. The runtime's workers set their own
stack's bounds after they start (`runtime-js/instance.js`), and the crash handler turns such a
trap into an error that names `Builder::stack_size`.

The pass runs on wasm-bindgen's output (wasm-bindgen cannot interpret instrumented descriptor
functions), where the instance's start function already moves the stack pointer before anyone
can set bounds: the bounds start wide open (base 0xFFFFFFFF, limit 0).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wbspawn.build import rusttool
from wbspawn.build.process import BuildJob, Runner, run_captured
from wbspawn.build.toolchain import Toolchain
from wbspawn.build.wasmbinary import (
    CODE,
    EXPORT,
    GLOBAL,
    IMPORT,
    Reader,
    WasmFormatError,
    sections,
)
from wbspawn.errors import WbspawnError

SET_LIMITS = "__set_stack_limits"
# The pass's crate (wbspawn's `stackcheck/` assets) and its binary.
TOOL_CRATE = "stackcheck"
TOOL_BINARY = "wbspawn-stackcheck"
# A stack-check pass to use instead of building one (tests use a stand-in).
TOOL_ENV = "WBSPAWN_STACKCHECK"


class StackCheckError(WbspawnError):
    """The module could not be instrumented."""


@dataclass(frozen=True)
class StackChecks:
    """Whether builds get stack checks: the pass that adds them, or why they are off."""

    tool: Path | None
    reason: str = ""

    @property
    def enabled(self) -> bool:
        return self.tool is not None

    def describe(self) -> str:
        if self.enabled:
            return "stack overflow checks: on"
        return f"stack overflow checks: off ({self.reason})"


def prepare(
    toolchain: Toolchain,
    cache_dir: Path,
    compiler: str,
    *,
    run: Runner = run_captured,
    job: BuildJob | None = None,
) -> StackChecks:
    """The pass, built first if the cache has none for this compiler; if it cannot be built,
    no checks and why (the build goes on and says so)."""
    if (chosen := rusttool.chosen(TOOL_ENV)) is not None:
        return StackChecks(chosen)
    try:
        return StackChecks(
            rusttool.built_tool(
                TOOL_CRATE, TOOL_BINARY, toolchain, cache_dir, run=run, compiler=compiler, job=job
            )
        )
    except WbspawnError as exc:
        return StackChecks(None, f"the stack-check pass could not be built: {exc}")


def turned_off(reason: str) -> StackChecks:
    return StackChecks(None, reason=reason)


def instrument(
    wasm: Path, tool: Path, env: Mapping[str, str] | None = None, *, run: Runner = run_captured
) -> bool:
    """Adds the stack checks to `wasm` in place (wasm-bindgen's output); False for a module
    with no stack pointer to check (left as it was)."""
    try:
        proc = run([str(tool), str(wasm)], wasm.parent, dict(os.environ if env is None else env))
    except OSError as exc:
        raise StackCheckError(f"could not run {tool} ({exc}): pass --no-stack-check") from exc
    if proc.returncode != 0:
        said = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        said = said.removeprefix(f"{TOOL_BINARY}: error: ")
        raise StackCheckError(f"the stack-check pass failed: {said}; pass --no-stack-check")
    return proc.stdout.startswith("checked ")


# --- reading the checks back (wasmbinary.py reads the format) -----------------------------------


def _skip_init_expr(reader: Reader) -> None:
    while True:
        op = reader.byte()
        if op == 0x0B:  # end
            return
        if op in (0x41, 0x42):  # i32.const, i64.const
            reader.sleb()
        elif op == 0x43:
            reader.skip(4)
        elif op == 0x44:
            reader.skip(8)
        elif op in (0x23, 0xD2):  # global.get, ref.func
            reader.uleb()
        elif op == 0xD0:  # ref.null
            reader.byte()
        elif op not in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):  # extended-const arithmetic
            raise StackCheckError(f"unexpected opcode 0x{op:02x} in a global's initializer")


def _imports(data: bytearray, span: tuple[int, int] | None) -> tuple[int, int]:
    """(imported functions, imported globals)."""
    if span is None:
        return 0, 0
    reader = Reader(data, *span)
    functions = globals_ = 0
    for _ in range(reader.uleb()):
        reader.name()
        reader.name()
        kind = reader.byte()
        if kind == 0:  # function: type index
            reader.uleb()
            functions += 1
        elif kind == 1:  # table: reftype, limits
            reader.byte()
            _skip_limits(reader)
        elif kind == 2:  # memory: limits
            _skip_limits(reader)
        elif kind == 3:  # global: valtype, mutability
            reader.byte()
            reader.byte()
            globals_ += 1
        elif kind == 4:  # tag: attribute, type index
            reader.byte()
            reader.uleb()
        else:
            raise StackCheckError(f"unknown import kind {kind}")
    return functions, globals_


def _skip_limits(reader: Reader) -> None:
    flags = reader.byte()
    reader.uleb()
    if flags & 1:
        reader.uleb()


def _export_function(data: bytearray, span: tuple[int, int], name: str) -> int | None:
    reader = Reader(data, *span)
    for _ in range(reader.uleb()):
        export = reader.name()
        kind = reader.byte()
        index = reader.uleb()
        if export == name and kind == 0:
            return index
    return None


def _limit_globals(data: bytearray, span: tuple[int, int], code_index: int) -> tuple[int, int]:
    """The two globals `__set_stack_limits` sets: (base, limit)."""
    reader = Reader(data, *span)
    count = reader.uleb()
    if code_index >= count:
        raise StackCheckError("no code for __set_stack_limits")
    for _ in range(code_index):
        reader.skip(reader.uleb())
    size = reader.uleb()
    body = Reader(data, reader.pos, reader.pos + size)
    for _ in range(body.uleb()):  # local declarations
        body.uleb()
        body.byte()
    # local.get 0; global.set BASE; local.get 1; global.set LIMIT; end
    code: list[tuple[int, int]] = []
    while body.pos < body.end:
        op = body.byte()
        if op != 0x0B:
            code.append((op, body.uleb() if op in (0x20, 0x24) else -1))
    if [op for op, _ in code] != [0x20, 0x24, 0x20, 0x24] or code[0][1] != 0:
        raise StackCheckError("__set_stack_limits is not the function binaryen writes")
    return code[1][1], code[3][1]


def checks_state(data: bytes | bytearray) -> bool | None:
    """None for a module without stack checks; True if it has them and they start wide open
    (as `open_limits` left them), False if an optimizer changed how they start."""
    module = bytearray(data)
    spans = sections(module)
    if EXPORT not in spans or CODE not in spans or GLOBAL not in spans:
        return None
    function = _export_function(module, spans[EXPORT], SET_LIMITS)
    if function is None:
        return None
    functions, imported_globals = _imports(module, spans.get(IMPORT))
    try:
        base, _limit = _limit_globals(module, spans[CODE], function - functions)
    except (StackCheckError, WasmFormatError):
        return False
    reader = Reader(module, *spans[GLOBAL])
    count = reader.uleb()
    for index in range(count):
        reader.byte()  # value type
        reader.byte()  # mutability
        if index == base - imported_globals:
            return bytes(module[reader.pos : reader.pos + 3]) == b"\x41\x7f\x0b"
        _skip_init_expr(reader)
    return False
