"""The Rust tools wbspawn builds for the machine from the source it carries (the stack-check
pass): built once per source and compiler, usable at once, run by the build."""

from __future__ import annotations

from pathlib import Path

import pytest

from wbspawn.build import rusttool, stackcheck
from wbspawn.build.stdpatch import rustc_info
from wbspawn.build.toolchain import discover
from wbspawn.errors import WbspawnError

pytestmark = pytest.mark.build

# No names section, so no stack pointer the pass could know.
EMPTY_MODULE = b"\0asm\x01\0\0\0"


def test_the_pass_is_built_once_and_runs_at_once(tmp_path: Path) -> None:
    toolchain = discover()
    compiler = rustc_info(toolchain).release
    checks = stackcheck.prepare(toolchain, tmp_path / "cache", compiler)
    assert checks.enabled, checks.reason
    assert checks.tool is not None
    wasm = tmp_path / "app_bg.wasm"
    wasm.write_bytes(EMPTY_MODULE)
    # Run by the very process that built it (a file still open for writing cannot run).
    assert stackcheck.instrument(wasm, checks.tool) is False
    again = stackcheck.prepare(toolchain, tmp_path / "cache", compiler)
    assert again.tool == checks.tool
    built = sorted(rusttool.tools_dir(tmp_path / "cache").glob("wbspawn-stackcheck-*"))
    assert built == [checks.tool]


def test_a_change_to_the_pass_source_is_a_new_build(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "stackcheck"
    digest = rusttool.source_digest(source)
    assert len(digest) == 12
    (tmp_path / "Cargo.toml").write_text("[package]\n")
    (tmp_path / "Cargo.lock").write_text("")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.rs").write_text("fn main() {}\n")
    first = rusttool.source_digest(tmp_path)
    (tmp_path / "src" / "main.rs").write_text("fn main() { }\n")
    assert rusttool.source_digest(tmp_path) != first


def test_a_tool_named_in_the_environment_is_used_and_a_missing_one_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WBSPAWN_SOME_TOOL", raising=False)
    assert rusttool.chosen("WBSPAWN_SOME_TOOL") is None
    tool = tmp_path / "tool"
    tool.write_text("")
    monkeypatch.setenv("WBSPAWN_SOME_TOOL", str(tool))
    assert rusttool.chosen("WBSPAWN_SOME_TOOL") == tool
    monkeypatch.setenv("WBSPAWN_SOME_TOOL", str(tmp_path / "gone"))
    with pytest.raises(WbspawnError, match=r"WBSPAWN_SOME_TOOL=.*gone does not exist: unset it"):
        rusttool.chosen("WBSPAWN_SOME_TOOL")
