from __future__ import annotations

from pathlib import Path

import pytest

from wbspawn.check.chromium import find_chromium
from wbspawn.errors import WbspawnError


def executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_env_override_wins(tmp_path: Path) -> None:
    chosen = executable(tmp_path / "my-chromium")
    env = {"WBSPAWN_CHROMIUM": str(chosen)}
    assert find_chromium(env, which=lambda _: "/usr/bin/other") == chosen


def test_env_override_must_exist(tmp_path: Path) -> None:
    with pytest.raises(WbspawnError, match=r"WBSPAWN_CHROMIUM=.* does not exist"):
        find_chromium({"WBSPAWN_CHROMIUM": str(tmp_path / "nope")})


def test_path_then_default(tmp_path: Path) -> None:
    assert find_chromium({}, which=lambda _: "/opt/chromium") == Path("/opt/chromium")
    default = executable(tmp_path / "chromium")
    assert find_chromium({}, which=lambda _: None, default=default) == default


def test_missing_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(WbspawnError, match="apt-get install chromium"):
        find_chromium({}, which=lambda _: None, default=tmp_path / "none")
