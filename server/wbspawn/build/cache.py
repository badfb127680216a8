"""What wbspawn keeps in its cache (`WBSPAWN_CACHE_DIR`, else ~/.cache/wbspawn), and removing it.

Every part is safe to delete: the next build makes again what it needs (std for wasm, the
stack-check pass, target dirs, the served output), only more slowly. `wbspawn clean` removes
it all; a server running meanwhile rebuilds at its next change.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wbspawn.build.sysroot import disk_size
from wbspawn.errors import WbspawnError

# Each directory of the cache and what it holds, for people.
PARTS: Final = (
    ("sysroot", "std for wasm, built once per compiler, std patch and panic mode"),
    ("std", "std's source, patched for threads"),
    ("target", "cargo's target dirs, shared by every app"),
    ("out", "each app's built output, as served, and wasm-bindgen's last output of it"),
    ("tools", "the stack-check pass and the splice, built for this machine"),
    ("test-runtime", "the wbspawn crate built for `wbspawn test` and `cargo test`"),
    ("prebuild", "what an interrupted `wbspawn prebuild` left of its throwaway app"),
)


@dataclass(frozen=True)
class Part:
    name: str
    about: str
    size_bytes: int


def parts(cache_dir: Path) -> list[Part]:
    """The cache's parts that exist, with their size on disk."""
    return [
        Part(name, about, disk_size(cache_dir / name))
        for name, about in PARTS
        if (cache_dir / name).exists()
    ]


def clean(cache_dir: Path) -> list[Part]:
    """Removes every part of the cache; what was removed."""
    removed = parts(cache_dir)
    for part in removed:
        path = cache_dir / part.name
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise WbspawnError(f"cannot remove {path} ({exc}): remove it by hand") from exc
    return removed
