"""Keeps a test binary's `main` from running when its module is instantiated.

rustc exports a binary's C `main(argc, argv)`, and wasm-bindgen makes such an export the
module's start function: libtest would run inside the first instantiation, before the runtime
has a dispatcher to start its threads with, and block the app's worker for good. The export is
renamed `__wbspawn_main` before wasm-bindgen sees the module; the app worker calls it once
the runtime is up (runtime-js/app-worker.js, `runMain`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from wbspawn.build.wasmbinary import rename_export
from wbspawn.errors import BuildError, WbspawnError

MAIN: Final = "main"
RENAMED: Final = "__wbspawn_main"


def hide_main(wasm: Path, out: Path) -> None:
    """Writes `wasm` with its `main` export renamed to `out`. A module without one is not a
    test binary: an error."""
    try:
        renamed = rename_export(wasm.read_bytes(), MAIN, RENAMED)
    except (OSError, WbspawnError) as exc:
        raise BuildError(f"cannot read the test binary {wasm}: {exc}") from exc
    if renamed is None:
        raise BuildError(f"{wasm} exports no `main`: it is not a test binary")
    out.write_bytes(renamed)
