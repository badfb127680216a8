"""Directory swaps: the build's /pkg/ output and a dist are replaced in one rename."""

from __future__ import annotations

from pathlib import Path

import pytest

from wbspawn.swapdir import swap_in


def test_the_new_directory_replaces_the_old(tmp_path: Path) -> None:
    out, staging = tmp_path / "pkg", tmp_path / "staging"
    out.mkdir()
    (out / "old.js").write_text("old")
    staging.mkdir()
    (staging / "new.js").write_text("new")
    swap_in(staging, out)
    assert [p.name for p in out.iterdir()] == ["new.js"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]  # no leftovers beside it


def test_a_failed_swap_puts_the_old_directory_back(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "app.js").write_text("still served")
    with pytest.raises(OSError):
        swap_in(tmp_path / "vanished-staging", out)
    assert (out / "app.js").read_text() == "still served"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
