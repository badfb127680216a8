"""The runtime's browser files under a versioned path the browser caches for good.

A page imports `/_wbspawn/bootstrap.js`, and each worker the runtime starts loads its own
modules (app-worker.js, thread-worker.js, instance.js, dispatcher.js, stdio.js). Served
`no-cache`, each load of the page revalidated every one of them, once per worker: requests
on the critical path of the app's start, made while the page, its workers and this server
compete for the same cores. The stable path now answers with a redirect to
`/_wbspawn/v/<version>/<file>`, where `<version>` is a hash of the runtime's files: a module
script's base URL is the URL it was finally fetched from, so every import and worker URL the
runtime makes from `import.meta.url` lands under the versioned path too, served `immutable`.
A page load costs one small request for the runtime instead of one per module and worker.
When the files change (a new wbspawn, or an edit to runtime-js/ in wbspawn's own repo) the
version changes with them; an old version's URL is no longer served (the page reloads for
the change anyway), so a browser never caches one version's file under another's name.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"
VERSIONED_PREFIX = "/_wbspawn/v"


class RuntimeVersion:
    """The hash of a directory's files, computed again only when one's size or mtime moves."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._version = ""

    def __call__(self) -> str:
        entries = []
        with os.scandir(self.directory) as scan:
            for entry in scan:
                if entry.is_file():
                    info = entry.stat()
                    entries.append((entry.name, info.st_size, info.st_mtime_ns))
        signature = tuple(sorted(entries))
        if signature != self._signature:
            digest = hashlib.sha256()
            for name, _, _ in signature:
                digest.update(name.encode() + b"\0")
                digest.update((self.directory / name).read_bytes() + b"\0")
            self._version, self._signature = digest.hexdigest()[:16], signature
        return self._version


def redirect_to_version(version: str, path: str) -> Response:
    """The stable URL's answer: the same file under the current version (revalidated each
    time, as the redirect must follow the files)."""
    return RedirectResponse(
        f"{VERSIONED_PREFIX}/{version}/{path}",
        status_code=307,
        headers={"cache-control": "no-cache"},
    )


def check_version(scope: Scope, version: str) -> None:
    """404 for a versioned URL of a version that is not the current one."""
    if scope.get("path_params", {}).get("version") != version:
        raise HTTPException(status_code=404)
