"""Running the tools that rewrite the wasm (the stack-check pass in every build, binaryen's
wasm-opt in `wbspawn build`): a failure is one line naming the step, the tool's own words and
the flag that skips it, and leaves the module as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FakeTools
from wbspawn.build import binaryen, stackcheck
from wbspawn.build.toolchain import discover
from wbspawn.errors import WbspawnError
from wbspawn.ship import wasmopt

MODULE = b"\0asm\1\0\0\0"


@pytest.fixture
def wasm(tmp_path: Path) -> Path:
    path = tmp_path / "app_bg.wasm"
    path.write_bytes(MODULE)
    return path


def test_a_failed_stack_check_names_the_passes_reason(
    fake_tools: FakeTools, wasm: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAKE_STACKCHECK_FAIL", "app_bg.wasm: not a valid wasm module: bad")
    checks = stackcheck.prepare(discover(), tmp_path / "cache", "1.96.0")
    assert checks.tool is not None
    with pytest.raises(stackcheck.StackCheckError) as caught:
        stackcheck.instrument(wasm, checks.tool)
    message = str(caught.value)
    assert message == (
        "the stack-check pass failed: app_bg.wasm: not a valid wasm module: bad; "
        "pass --no-stack-check"
    )
    assert wasm.read_bytes() == MODULE


def test_a_failed_optimization_names_the_level_and_the_way_out(
    fake_tools: FakeTools, wasm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_WASM_OPT_FAIL", "Fatal: out of memory")
    with pytest.raises(WbspawnError) as caught:
        wasmopt.optimize(wasm, "O3")
    message = str(caught.value)
    assert message.startswith("`wasm-opt -O3` failed on app_bg.wasm: Fatal: out of memory")
    assert message.endswith("pass --wasm-opt off to ship it unoptimized")
    assert wasm.read_bytes() == MODULE
    assert not [p for p in wasm.parent.iterdir() if p.name.startswith("app_bg.wasm.")]


def test_a_wasm_opt_that_cannot_run_says_how_to_install_one(wasm: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-wasm-opt"
    failure = binaryen.run(missing, ["-O"], wasm, tmp_path / "o", timeout_s=10)
    assert failure is not None
    assert failure.startswith("could not run (")
    assert binaryen.INSTALL_HINT in failure
