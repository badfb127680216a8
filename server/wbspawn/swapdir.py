"""Replace a directory with a freshly built one so that readers (the server serving `/pkg/`, a
host serving a dist) see the old files or the new ones, never a mix and never nothing.

On Linux the two directories trade places in one call (`renameat2` with `RENAME_EXCHANGE`):
the path names a complete directory at every moment. Two renames (the old one aside, the new
one in) leave a moment with no directory at all, and a server answering then says 404: a
build of an app that another process is serving (`wbspawn check` or `build` beside `wbspawn
serve`, or two test processes sharing one cache) failed that process's page now and then.
Where the call is missing (another OS, an old kernel, a filesystem without it), the two
renames remain.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
import tempfile
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one step; False where this system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # a C library older than glibc 2.28
        return False
    done = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if done == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), str(first), None, str(second))


def swap_in(staging: Path, out: Path) -> None:
    """Move `staging` to `out`, replacing what `out` held (which is deleted). If the swap fails
    (`staging` vanished, another process put a directory at `out` meanwhile), `out` keeps
    what it held and the error is raised: a failed swap never leaves `out` empty."""
    if out.exists() and _exchange(staging, out):
        shutil.rmtree(staging, ignore_errors=True)  # it holds the old directory now
        return
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
