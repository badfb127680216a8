"""Replace a directory with a freshly built one in one rename, so that readers (the server
serving `/pkg/`, a host serving a dist) see the old files or the new ones, never a mix."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def swap_in(staging: Path, out: Path) -> None:
    """Move `staging` to `out`, replacing what `out` held. If the final rename fails (another
    process put a directory there meanwhile), the old `out` is put back and the error raised:
    a failed swap never leaves `out` empty."""
    old: Path | None = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        # rename() onto an existing directory needs it empty: the old one moves inside a fresh
        # temp dir first, then the staging dir takes its place.
        out.rename(old / out.name)
    try:
        staging.rename(out)
    except OSError:
        if old is not None:
            (old / out.name).rename(out)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
