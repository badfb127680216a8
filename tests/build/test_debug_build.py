"""What a real debug build of the demo carries into the page."""

from __future__ import annotations

from pathlib import Path

from wbspawn.build.pipeline import BuildResult
from wbspawn.build.wasmbinary import Reader, section_spans


def custom_sections(wasm: Path) -> list[str]:
    data = wasm.read_bytes()
    spans = section_spans(data)
    return [Reader(data, body, end).name() for kind, _, body, end in spans if not kind]


def test_a_debug_build_keeps_function_names_and_makes_no_dwarf(demo_build: BuildResult) -> None:
    """wasm-bindgen drops DWARF, so it is never generated (flags.DEV_PROFILE_ARGS); the name
    section, which the browser's stack traces show, stays."""
    assert demo_build.cargo_wasm is not None
    made = custom_sections(demo_build.cargo_wasm)
    assert "name" in made
    assert not [name for name in made if name.startswith(".debug_")]
    served = custom_sections(demo_build.out_dir / demo_build.wasm_name)
    assert "name" in served
