"""The build's reuse of wasm-bindgen's last output (build/splice.py), with the fake tools:
when the splice is tried, what it starts from, and that a refusal costs only a wasm-bindgen
run. The splice itself is tested in stackcheck/tests/splice.rs, and on a real app by the dev
loop's browser test of a Rust edit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conftest import FakeTools
from wbspawn.build.pipeline import build
from wbspawn.build.splice import INPUT, KEY, LAST, OUTPUT
from wbspawn.build.toolchain import Toolchain, discover
from wbspawn.config import Config
from wbspawn.errors import BuildError


@pytest.fixture
def toolchain(fake_tools: FakeTools) -> Toolchain:
    return discover()


def splice_calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "splice-calls.log"
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def test_a_first_build_runs_wasm_bindgen_and_keeps_its_output_for_the_next(
    config: Config, toolchain: Toolchain, tmp_path: Path
) -> None:
    result = build(config, toolchain)

    assert not result.spliced
    assert splice_calls(tmp_path) == []  # nothing to splice into yet
    last = result.out_dir.parent / LAST
    assert result.cargo_wasm is not None
    assert (last / INPUT).read_bytes() == result.cargo_wasm.read_bytes()
    assert sorted(p.name for p in (last / OUTPUT).iterdir()) == sorted(
        p.name for p in result.out_dir.iterdir()
    )
    key = (last / KEY).read_text()
    assert key.startswith("wasm-bindgen 0.2.100 --target web --out-name demo; ")
    assert "WASM_BINDGEN_EXTERNREF=" in key
    assert key.endswith("; wbspawn-bindgen-splice")  # the fake's file name


def test_the_next_build_splices_and_runs_no_wasm_bindgen(
    config: Config, toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build(config, toolchain)
    glue = (first.out_dir / "demo.js").read_text()
    monkeypatch.setenv("FAKE_SPLICE", "splice")
    monkeypatch.setenv("FAKE_WASM_BINDGEN_FAIL", "1")  # a wasm-bindgen run would fail

    second = build(config, toolchain)

    assert second.spliced
    [call] = splice_calls(tmp_path)
    last = first.out_dir.parent / LAST
    assert call[:3] == [
        str(last / INPUT),
        str(last / OUTPUT / "demo_bg.wasm"),
        str(second.cargo_wasm),
    ]
    assert (second.out_dir / "demo.js").read_text() == glue  # the last output's glue
    assert sorted(p.name for p in second.out_dir.parent.iterdir()) == [LAST, "pkg"]


def test_a_refused_splice_runs_wasm_bindgen(
    config: Config, toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(config, toolchain)
    monkeypatch.setenv("FAKE_WASM_BINDGEN_FAIL", "1")

    with pytest.raises(BuildError, match="wasm-bindgen failed"):
        build(config, toolchain)  # the fake splice refuses: wasm-bindgen runs

    assert len(splice_calls(tmp_path)) == 1


def test_output_from_another_wasm_bindgen_is_not_spliced_into(
    config: Config, toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build(config, toolchain)
    key = first.out_dir.parent / LAST / KEY
    key.write_text(key.read_text().replace("0.2.100", "0.2.99"))
    monkeypatch.setenv("FAKE_SPLICE", "splice")

    second = build(config, toolchain)

    assert not second.spliced
    assert splice_calls(tmp_path) == []


def test_release_builds_never_splice(
    config: Config, toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = dataclasses.replace(config, release=True)
    monkeypatch.setenv("FAKE_SPLICE", "splice")
    build(release, toolchain)

    second = build(release, toolchain)

    assert not second.spliced
    assert splice_calls(tmp_path) == []
    assert not (second.out_dir.parent / LAST).exists()


def test_a_splice_that_cannot_be_kept_leaves_nothing_to_splice_into(
    config: Config, toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build(config, toolchain)
    last = first.out_dir.parent / LAST
    monkeypatch.setenv("FAKE_SPLICE", "splice")

    def refuse(*_: object, **__: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("wbspawn.build.splice.swap_in", refuse)
    second = build(config, toolchain)

    assert second.spliced
    assert not last.exists()  # the next build runs wasm-bindgen
    assert not list(last.parent.glob(f"{LAST}.staging-*"))
