"""`wbspawn test`'s pieces that need no browser: the module rewrite that hides a test
binary's `main`, reading libtest's output back, and cargo's test artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wbspawn.build.wasmbinary import EXPORT, WasmFormatError, rename_export, sections, uleb
from wbspawn.errors import BuildError
from wbspawn.testrun.build import binaries_built
from wbspawn.testrun.results import BinaryRun, EngineRun
from wbspawn.testrun.wasm_main import RENAMED, hide_main


def _section(section_id: int, body: bytes) -> bytes:
    return bytes([section_id]) + uleb(len(body)) + body


def _module(*exports: str) -> bytes:
    """A module with one function type, one function and the given exports of it."""
    types = _section(1, b"\x01\x60\x02\x7f\x7f\x01\x7f")  # (i32, i32) -> i32
    functions = _section(3, b"\x01\x00")
    entries = b"".join(uleb(len(n)) + n.encode() + b"\x00\x00" for n in exports)
    export = _section(EXPORT, uleb(len(exports)) + entries)
    code = _section(10, b"\x01\x04\x00\x41\x00\x0b")  # i32.const 0
    custom = _section(0, b"\x04name")  # a custom section after it survives untouched
    return b"\0asm\x01\0\0\0" + types + functions + export + code + custom


def _export_names(module: bytes) -> list[str]:
    body, end = sections(module)[EXPORT]
    names = []
    data = memoryview(module)[body:end].tobytes()
    count, at = data[0], 1
    for _ in range(count):
        size = data[at]
        names.append(data[at + 1 : at + 1 + size].decode())
        at += 1 + size + 2
    return names


def test_main_is_renamed_and_the_rest_of_the_module_kept() -> None:
    module = _module("memory_like", "main", "other")
    renamed = rename_export(module, "main", RENAMED)
    assert renamed is not None
    assert _export_names(renamed) == ["memory_like", RENAMED, "other"]
    # Everything after the export section is byte for byte the same.
    assert renamed.endswith(module[sections(module)[EXPORT][1] :])
    assert len(renamed) == len(module) + len(RENAMED) - len("main")


def test_a_module_without_main_is_not_renamed() -> None:
    assert rename_export(_module("run"), "main", RENAMED) is None


def test_a_truncated_module_is_a_format_error() -> None:
    with pytest.raises(WasmFormatError):
        rename_export(_module("main")[:-3], "main", RENAMED)


def test_hide_main_refuses_a_library_module(tmp_path: Path) -> None:
    wasm = tmp_path / "lib.wasm"
    wasm.write_bytes(_module("run"))
    with pytest.raises(BuildError, match="exports no `main`: it is not a test binary"):
        hide_main(wasm, tmp_path / "out.wasm")
    wasm.write_bytes(_module("main"))
    hide_main(wasm, tmp_path / "out.wasm")
    assert _export_names((tmp_path / "out.wasm").read_bytes()) == [RENAMED]


LIBTEST = """
running 5 tests
test tests::ignored ... ignored
test tests::adds ... ok
test tests::fails ... FAILED
test tests::panics - should panic ... ok
test tests::slow ... ignored, needs a network

failures:

---- tests::fails stdout ----
test tests::looks_like_a_result ... ok

failures:
    tests::fails

test result: FAILED. 2 passed; 1 failed; 2 ignored; 0 measured; 3 filtered out
""".splitlines()


def test_libtests_lines_are_read_back_per_test() -> None:
    run = BinaryRun("unittests src/lib.rs", exit_code=101)
    run.read(LIBTEST)
    outcomes = {t.name: t.outcome for t in run.tests}
    assert outcomes["tests::adds"] == "ok"
    assert outcomes["tests::fails"] == "failed"
    assert outcomes["tests::panics"] == "ok"
    assert outcomes["tests::slow"] == "ignored"
    assert (run.passed, run.failed, run.ignored, run.filtered_out) == (2, 1, 2, 3)
    assert not run.ok


def test_an_engine_summary_names_binaries_that_never_finished() -> None:
    finished = BinaryRun("tests/a.rs", exit_code=0, passed=3, failed=0, ignored=1)
    hung = BinaryRun("tests/b.rs", error="did not finish within 5 s (--timeout)")
    run = EngineRun("firefox", "Firefox 153", [finished, hung])
    assert not run.ok
    assert run.summary() == (
        "test FAILED in Firefox 153: 3 passed; 0 failed; 1 ignored (2 test binaries); "
        "did not finish: tests/b.rs"
    )
    assert EngineRun("chromium", None, [finished]).summary().startswith("test ok in chromium:")
    assert json.loads(json.dumps(run.to_json()))["binaries"][1]["error"].startswith("did not")


def test_cargo_names_its_test_binaries_as_cargo_test_does() -> None:
    def artifact(name: str, kind: str, src: str, test: bool, exe: str | None) -> str:
        return json.dumps(
            {
                "reason": "compiler-artifact",
                "target": {"name": name, "kind": [kind], "src_path": src},
                "profile": {"test": test},
                "executable": exe,
            }
        )

    stdout = "\n".join(
        [
            artifact("tc", "lib", "/c/src/lib.rs", False, None),
            artifact("tc", "lib", "/c/src/lib.rs", True, "/t/deps/tc-1.wasm"),
            artifact("threads", "test", "/c/tests/threads.rs", True, "/t/deps/threads-2.wasm"),
            '{"reason":"build-finished","success":true}',
            "not json",
        ]
    )
    assert binaries_built(stdout) == [
        ("unittests src/lib.rs", "tc", Path("/t/deps/tc-1.wasm")),
        ("tests/threads.rs", "threads", Path("/t/deps/threads-2.wasm")),
    ]


def test_two_wasm_bindgens_in_one_test_binary_name_the_fix() -> None:
    from wbspawn.testrun.build import _failure

    stderr = "rust-lld: error: duplicate symbol: __wbindgen_malloc\n>>> defined in ..."
    assert _failure("webapp", stderr) == (
        "webapp's tests link wasm-bindgen twice, the crate's own and the wbspawn runtime's: "
        "add `wbspawn` to the crate's [dev-dependencies] so that both use one"
    )
    assert _failure("webapp", "error[E0425]: cannot find value") == (
        "cargo test --no-run failed for webapp (rustc's errors are above)"
    )
