"""`wbspawn prebuild` (build/prebuild.py): a throwaway `wbspawn new` app built into the target
dir every app shares, then removed; with the fake tools, in milliseconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import FakeTools
from wbspawn import assets
from wbspawn.build import pipeline
from wbspawn.build.prebuild import PREBUILT, SEED_NAME, prebuild
from wbspawn.build.toolchain import discover
from wbspawn.cli import main
from wbspawn.config import Config
from wbspawn.ship.template import TEMPLATES, new_app, runtime_versions


@pytest.fixture(autouse=True)
def bindgen_as_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake wasm-bindgen is the version `wbspawn new` apps pin."""
    _, pinned = runtime_versions(assets.runtime_rs_dir())
    monkeypatch.setenv("FAKE_WASM_BINDGEN_VERSION", pinned)


def app_builds(tools: FakeTools) -> list[dict[str, Any]]:
    calls = [json.loads(line) for line in tools.cargo_log.read_text().splitlines()]
    # The app builds (not std's, nor the stack-check pass's): with the wasm flags, no -Z.
    return [
        c
        for c in calls
        if c["args"][:1] == ["build"]
        and "--sysroot=" in c["env"].get("RUSTFLAGS", "")
        and not any(a.startswith("-Zbuild-std") for a in c["args"])
    ]


def test_prebuild_fills_the_target_dir_a_new_app_builds_in_and_leaves_no_app(
    fake_tools: FakeTools, tmp_path: Path, cache_dir: Path
) -> None:
    toolchain = discover()
    results = prebuild(Config(app_dir=tmp_path, cache_dir=cache_dir), toolchain)
    # One throwaway app per template, each with its own dependencies.
    assert [r.crate_name for r in results] == [SEED_NAME] * len(PREBUILT)
    seeds = app_builds(fake_tools)
    assert [Path(s["cwd"]).name for s in seeds] == [SEED_NAME] * len(PREBUILT)
    assert [Path(s["cwd"]).parent.name for s in seeds] == list(PREBUILT)
    # Every template but yew's (its dependencies are many; its first build compiles them).
    assert set(TEMPLATES) - set(PREBUILT) == {"yew"}
    seeded = seeds[0]
    # Gone: the throwaway apps and their output; kept: the std and the target dir.
    assert list((cache_dir / "prebuild").iterdir()) == []
    assert not any(r.out_dir.exists() for r in results)
    result = results[0]
    assert result.sysroot is not None and result.sysroot.path.is_dir()

    app = new_app(tmp_path / "mine").dir
    mine = pipeline.build(Config(app_dir=app, cache_dir=cache_dir), toolchain)
    *_, built = app_builds(fake_tools)
    assert built["env"]["CARGO_TARGET_DIR"] == seeded["env"]["CARGO_TARGET_DIR"]
    assert built["env"]["RUSTFLAGS"] == seeded["env"]["RUSTFLAGS"]
    assert mine.sysroot == result.sysroot


def test_prebuild_builds_the_flavour_it_is_asked_for(
    fake_tools: FakeTools, tmp_path: Path, cache_dir: Path, capsys: Any
) -> None:
    del fake_tools
    assert main(["prebuild", "--panic", "unwind", "--release"]) == 0
    said = capsys.readouterr().out
    assert "prebuilt release builds with panic=unwind" in said
    unwinding = Config(app_dir=tmp_path, cache_dir=cache_dir, panic="unwind", release=True)
    key = pipeline.std_key(unwinding, discover())
    assert pipeline.target_dir(unwinding, key).is_dir()
