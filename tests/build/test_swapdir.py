"""Directory swaps: the build's /pkg/ output and a dist are replaced, never missing meanwhile."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wbspawn import swapdir
from wbspawn.swapdir import swap_in


def old_and_new(tmp_path: Path, old: str, new: str) -> tuple[Path, Path]:
    """`pkg/` holding the file `old` and a staging dir holding `new`, each with its name as
    its text."""
    out, staging = tmp_path / "pkg", tmp_path / "staging"
    for directory, name in ((out, old), (staging, new)):
        directory.mkdir()
        (directory / name).write_text(name)
    return out, staging


def test_the_new_directory_replaces_the_old(tmp_path: Path) -> None:
    out, staging = old_and_new(tmp_path, "old.js", "new.js")
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="one-step swaps are Linux's")
def test_the_directory_is_never_missing_while_it_is_swapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server answering from `out` between two renames would say 404 (seen when two
    # processes build and serve one app).
    out, staging = old_and_new(tmp_path, "old.js", "new.js")
    seen: list[bool] = []
    rename = Path.rename

    def watched(self: Path, target: str | Path) -> Path:
        seen.append(out.is_dir())
        result = rename(self, target)
        seen.append(out.is_dir())
        return result

    monkeypatch.setattr(Path, "rename", watched)
    swap_in(staging, out)
    assert [p.name for p in out.iterdir()] == ["new.js"]
    assert all(seen), "the directory went missing during the swap"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_without_a_one_step_swap_two_renames_still_replace_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(swapdir, "_exchange", lambda first, second: False)
    out, staging = old_and_new(tmp_path, "old.js", "new.js")
    swap_in(staging, out)
    assert [p.name for p in out.iterdir()] == ["new.js"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
