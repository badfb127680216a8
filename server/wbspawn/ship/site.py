"""Which file each URL of the app names: the dev server's URL layout, seen by the build.

    /_wbspawn/bootstrap.js   the app's pages reach the runtime here: in a dist, through the
                             isolation gate (ship/isolate.js), which re-exports bootstrap.js
    /_wbspawn/static/...     the server's own assets (static/: the default page, its icon)
    /_wbspawn/...            the JS runtime (runtime-js/)
    /_wbspawn/app.json       {"pkg": ...} for the default page, made by the build
    /pkg/...                 wasm-bindgen's output (the optimized copy)
    /wbspawn-sw.js           the service worker for hosts without headers, made by the build
    /...                     APP_DIR/public/... (copied as they are), else APP_DIR/...

Private files stay out as they do in the dev server: dotfiles, `target/`, anything outside
its directory (also through a symlink), and the dist being built.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from wbspawn.serve.app import PUBLIC_DIR, public_root
from wbspawn.ship.manifest import MANIFEST

BOOTSTRAP: Final = "/_wbspawn/bootstrap.js"
GATE: Final = "/_wbspawn/isolate.js"
APP_JSON: Final = "/_wbspawn/app.json"
SERVICE_WORKER: Final = "/wbspawn-sw.js"
DEFAULT_ICON: Final = "/_wbspawn/static/favicon.svg"
# Cargo's output, never a web file (as in the dev server, at any depth).
APP_HIDDEN_DIRS: Final = frozenset({"target"})
# Top-level directories whose HTML files are not the app's pages.
NOT_PAGES: Final = frozenset({"target", "node_modules", PUBLIC_DIR, "src"})

# page: an HTML page, kept at its path; asset: content-hashed into assets/; public: copied
# as it is from public/; generated: made by the build (the service worker, app.json).
SourceKind = Literal["page", "asset", "public", "generated"]


@dataclass(frozen=True)
class Source:
    url: str  # the URL path the app's code uses, e.g. "/_wbspawn/bootstrap.js"
    path: Path | None  # the file, None for generated ones
    kind: SourceKind


@dataclass(frozen=True)
class Site:
    app_dir: Path
    pkg_dir: Path
    runtime_js_dir: Path
    static_dir: Path
    ship_dir: Path
    # Never part of the app's files: the dist being replaced (and its staging dir).
    excluded: tuple[Path, ...] = ()

    @property
    def public_dir(self) -> Path | None:
        """public/, resolved; None if the app has none it may publish (serve/app.py)."""
        return public_root(self.app_dir)

    def resolve(self, url: str, referrer: str) -> Source | None:
        """The file a URL path names (already resolved against its referrer), or None."""
        if url == BOOTSTRAP and referrer != GATE:
            url = GATE
        if url in (SERVICE_WORKER, APP_JSON):
            return Source(url, None, "generated")
        if url == GATE:
            return self._file(url, self.ship_dir, "isolate.js", "asset")
        for prefix, root in (
            ("/_wbspawn/static/", self.static_dir),
            ("/_wbspawn/", self.runtime_js_dir),
            ("/pkg/", self.pkg_dir),
        ):
            if url.startswith(prefix):
                return self._file(url, root, url[len(prefix) :], "asset")
        rel = url.removeprefix("/")
        public_dir = self.public_dir
        public = None if public_dir is None else self._file(url, public_dir, rel, "public")
        if public is not None:
            return public
        if rel.split("/", 1)[0] == PUBLIC_DIR:
            return None  # public/ files are served at the root, as in the dev server
        kind: SourceKind = "page" if rel.endswith(".html") else "asset"
        return self._file(url, self.app_dir, rel, kind)

    def _file(self, url: str, root: Path, rel: str, kind: SourceKind) -> Source | None:
        parts = [p for p in rel.split("/") if p]
        if not parts or any(p.startswith(".") for p in parts) or "\\" in rel:
            return None
        real_root = Path(os.path.realpath(root))
        full = Path(os.path.realpath(real_root.joinpath(*parts)))
        if not full.is_relative_to(real_root) or not full.is_file():
            return None
        inside = full.relative_to(real_root).parts
        if any(p.startswith(".") for p in inside):
            return None  # a symlink to a private file
        if root == self.app_dir and any(p in APP_HIDDEN_DIRS for p in inside):
            return None
        if any(full.is_relative_to(Path(os.path.realpath(e))) for e in self.excluded):
            return None
        return Source(url, full, kind)

    def pages(self) -> list[Source]:
        """The app's HTML pages; none means the default page (static/index.html) at /."""
        found: list[Source] = []
        for dirpath, dirnames, filenames in os.walk(self.app_dir):
            here = Path(dirpath)
            rel_dir = here.relative_to(self.app_dir)
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".")
                and d not in APP_HIDDEN_DIRS
                and not (rel_dir == Path() and d in NOT_PAGES)
                and not any((here / d).resolve() == e.resolve() for e in self.excluded)
                and not (here / d / MANIFEST).is_file()  # another dist, built with --out
            )
            for name in sorted(filenames):
                if name.endswith(".html") and not name.startswith("."):
                    url = "/" + (rel_dir / name).as_posix()
                    source = self.resolve(url, "/")
                    if source is not None and source.kind == "page":
                        found.append(source)
        return found

    def public_files(self) -> list[Source]:
        """public/'s files, copied into the dist as they are (no renaming, no rewriting)."""
        found: list[Source] = []
        public_dir = self.public_dir
        if public_dir is None:
            return found
        for dirpath, dirnames, filenames in os.walk(public_dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                rel = (Path(dirpath) / name).relative_to(public_dir).as_posix()
                source = self._file("/" + rel, public_dir, rel, "public")
                if source is not None:
                    found.append(source)
        return found


def default_page(static_dir: Path) -> Source:
    """The page the dev server shows at / when the app has none: it runs the app's `main`."""
    return Source("/index.html", static_dir / "index.html", "page")


def resolve_url(url: str, referrer: str) -> str | None:
    """The URL path `url` names when written in the file at URL path `referrer`; None for a
    URL that leaves the site (`..` above the root)."""
    joined = url if url.startswith("/") else posixpath.join(posixpath.dirname(referrer), url)
    trailing = joined.endswith("/")
    normal = posixpath.normpath(joined)
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    if not normal.startswith("/") or normal.startswith("/.."):
        return None
    if trailing and not normal.endswith("/"):
        normal += "/"
    return normal
