"""std threads: the patch applier, and the patch itself against the toolchain's std."""

from __future__ import annotations

from pathlib import Path

import pytest

from wbspawn.build import stdpatch
from wbspawn.build.stdpatch import PatchError, apply_hunks, parse_patch
from wbspawn.build.toolchain import Toolchain, discover

PATCH = """\
A comment before the first file is ignored.

--- a/lib/a.rs
+++ b/lib/a.rs
@@ -2,3 +2,4 @@ fn x() {
 two
-three
+THREE
+three and a half
 four
"""

SOURCE = "one\ntwo\nthree\nfour\nfive\n"


def test_a_hunk_replaces_its_lines() -> None:
    [patch] = parse_patch(PATCH)
    assert patch.path == "lib/a.rs"
    assert apply_hunks(SOURCE, patch.hunks, path=patch.path) == (
        "one\ntwo\nTHREE\nthree and a half\nfour\nfive\n"
    )


def test_a_hunk_finds_its_lines_when_they_moved() -> None:
    [patch] = parse_patch(PATCH)
    moved = "zero\nzero\n" + SOURCE
    assert "THREE" in apply_hunks(moved, patch.hunks, path=patch.path)


def test_a_hunk_whose_lines_changed_is_an_error_naming_it() -> None:
    [patch] = parse_patch(PATCH)
    with pytest.raises(PatchError, match=r"hunk 1 of lib/a.rs \(at line 2\)"):
        apply_hunks(SOURCE.replace("three", "3"), patch.hunks, path=patch.path)


def test_a_patch_without_files_is_an_error() -> None:
    with pytest.raises(PatchError, match="changes no file"):
        parse_patch("just words\n")


def test_patch_applies_to_a_copy_and_leaves_the_original(tmp_path: Path) -> None:
    source = tmp_path / "src" / "lib"
    source.mkdir(parents=True)
    (source / "a.rs").write_text(SOURCE)
    copy = tmp_path / "copy" / "lib"
    stdpatch._link_tree(source, copy)
    stdpatch.apply_patch(parse_patch(PATCH), copy.parent)
    assert "THREE" in (copy / "a.rs").read_text()
    assert (source / "a.rs").read_text() == SOURCE  # a hard link was replaced, not edited


NEW_FILE_PATCH = """\
--- /dev/null
+++ b/lib/new.rs
@@ -0,0 +1,2 @@
+fn made() {}
+// by the patch
"""


def test_a_patch_can_create_a_file(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    [patch] = parse_patch(NEW_FILE_PATCH)
    assert patch.new_file
    stdpatch.apply_patch([patch], tmp_path)
    assert (tmp_path / "lib" / "new.rs").read_text() == "fn made() {}\n// by the patch\n"


def test_a_patch_that_creates_an_existing_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "new.rs").write_text("already here\n")
    with pytest.raises(PatchError, match=r"lib/new\.rs already exists"):
        stdpatch.apply_patch(parse_patch(NEW_FILE_PATCH), tmp_path)


def test_a_new_file_must_be_one_hunk_of_added_lines() -> None:
    with pytest.raises(PatchError, match="must be one hunk of added lines"):
        parse_patch(NEW_FILE_PATCH.replace("+fn made() {}", " fn made() {}"))


def test_every_supported_series_has_one_patch_file() -> None:
    series = stdpatch.supported_series()
    assert "1.96" in series
    for name in series:
        assert stdpatch.patch_for(name) is not None


def _toolchain() -> Toolchain:
    try:
        return discover()
    except Exception as exc:  # a machine without the toolchain cannot run the next tests
        pytest.skip(f"no wasm toolchain here: {exc}")


def test_the_patch_applies_to_this_toolchains_std(tmp_path: Path) -> None:
    """Fails when the toolchain's std moves away from the patch: a new patch is then due."""
    toolchain = _toolchain()
    rustc = stdpatch.rustc_info(toolchain)
    patch = stdpatch.patch_for(rustc.series)
    assert patch is not None, f"no patch for rustc {rustc.release}: write rust-{rustc.series}.patch"
    threads = stdpatch.prepare(toolchain, tmp_path)
    assert threads.enabled, threads.reason
    assert threads.source_root is not None
    std_src = threads.source_root / "std/src"
    assert "__wbspawn_v2_thread_spawn" in (std_src / "sys/thread/wasm.rs").read_text()
    # The clock, stdio, args and exit: a file of the patch's own, and the hunks that use it.
    hooks = (std_src / "sys/pal/wasm/atomics/wbspawn.rs").read_text()
    for hook in ("clock_monotonic", "clock_system", "stdio_write", "args", "exit", "abort"):
        assert f"fn __wbspawn_v2_{hook}(" in hooks
    assert "wbspawn::panicked(" in (std_src / "panicking.rs").read_text()
    assert "wbspawn::monotonic_now()" in (std_src / "sys/time/unsupported.rs").read_text()
    assert "wbspawn::{Stderr, Stdout, panic_output}" in (std_src / "sys/stdio/mod.rs").read_text()
    assert "wbspawn::exit(code)" in (std_src / "sys/exit.rs").read_text()
    assert "wbspawn::alloc_lock_held(true)" in (std_src / "sys/alloc/wasm.rs").read_text()
    assert "static __wbspawn_v2_alloc_owner" in hooks
    assert "scoped: bool" in (std_src / "sys/thread/wasm.rs").read_text()
    assert threads.describe() == f"std threads: on (rustc {rustc.release})"
    # The toolchain's own std is untouched.
    original = (rustc.library / "std/src/sys/thread/wasm.rs").read_text()
    assert "__wbspawn_v2_thread_spawn" not in original


def test_a_prepared_std_is_reused(tmp_path: Path) -> None:
    toolchain = _toolchain()
    first = stdpatch.prepare(toolchain, tmp_path)
    marker = first.source_root / "wbspawn-test-marker" if first.source_root else None
    assert marker is not None
    marker.write_text("kept")
    second = stdpatch.prepare(toolchain, tmp_path)
    assert second == first
    assert marker.read_text() == "kept"


def test_a_toolchain_without_a_patch_says_so(tmp_path: Path) -> None:
    toolchain = _toolchain()
    empty = tmp_path / "patches"
    empty.mkdir()
    threads = stdpatch.prepare(toolchain, tmp_path / "cache", patches=empty)
    assert not threads.enabled
    assert threads.describe().startswith("std threads: off (no patch for rustc ")
    assert threads.describe().endswith("wbspawn::spawn still works")
    assert threads.cargo_env() == {}


def test_a_patch_that_does_not_fit_turns_std_threads_off(tmp_path: Path) -> None:
    toolchain = _toolchain()
    rustc = stdpatch.rustc_info(toolchain)
    patches = tmp_path / "patches"
    patches.mkdir()
    (patches / f"rust-{rustc.series}.patch").write_text(PATCH.replace("lib/a.rs", "std/src/lib.rs"))
    threads = stdpatch.prepare(toolchain, tmp_path / "cache", patches=patches)
    assert not threads.enabled
    assert "does not fit this std" in threads.reason
