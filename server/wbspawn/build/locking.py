"""An exclusive lock across processes on a file beside what it guards.

flock: the kernel releases it when its holder dies, so a killed build never leaves a lock
behind. Waiting polls instead of blocking, so a build that is stopped meanwhile
(`BuildJob.stop`) stops waiting too.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

from wbspawn.build.process import BuildJob


@contextlib.contextmanager
def held(path: Path, job: BuildJob | None = None, poll_s: float = 0.05) -> Iterator[None]:
    """Holds the lock on `path` (made if missing) for the `with` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        while True:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if job is not None:
                    job.check()
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
