"""What the dist weighs: each file raw, gzipped and brotli-compressed (what a host sends)."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass

import brotli


@dataclass(frozen=True)
class Size:
    path: str
    raw: int
    gzip: int
    brotli: int


def measure(path: str, data: bytes) -> Size:
    # The levels hosts use for static files they compress ahead: the most either allows.
    return Size(
        path=path,
        raw=len(data),
        gzip=len(gzip.compress(data, compresslevel=9, mtime=0)),
        brotli=len(brotli.compress(data, quality=11)),
    )


def human(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.2f} MiB"


def table(sizes: Iterable[Size]) -> str:
    """Largest first, then a total line."""
    rows = sorted(sizes, key=lambda s: (-s.raw, s.path))
    total = Size(
        "total",
        sum(s.raw for s in rows),
        sum(s.gzip for s in rows),
        sum(s.brotli for s in rows),
    )
    cells = [("file", "raw", "gzip", "brotli")]
    cells += [(s.path, human(s.raw), human(s.gzip), human(s.brotli)) for s in [*rows, total]]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    lines = []
    for number, row in enumerate(cells):
        name = row[0].ljust(widths[0])
        numbers = "  ".join(
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        )
        lines.append(f"  {name}  {numbers}")
        if number == len(cells) - 2:
            lines.append("  " + "-" * (sum(widths) + 6))
    return "\n".join(lines)
