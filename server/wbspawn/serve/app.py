"""The dev server's ASGI app.

URL layout (first match wins):

    /_wbspawn/ws           the reload websocket (reload.py), when serving with a Hub
    /_wbspawn/app.json     {"pkg": "/pkg/<js_name>", "crate": "<package name>", "mode": ...}
    /_wbspawn/static/...   the default page (static/: index.html, default-app.js)
    /_wbspawn/...          the JS runtime (runtime-js/: bootstrap.js, workers, ...)
    /pkg/...               wasm-bindgen's output for the app (<lib>.js, <lib>_bg.wasm, ...)
    /                      APP_DIR/index.html, else the default page
    /...                   APP_DIR/public/..., else the app's own web files under APP_DIR

Every response carries the cross-origin isolation headers, `X-Content-Type-Options:
nosniff` and `Cache-Control: no-cache` (headers.py), and every 200 an ETag (etag.py); the
answers uvicorn makes itself get the same headers (protocols.py). Files have our media types,
sources are plain text (`media_type`). A missing file is a plain-text 404, never an HTML
fallback: a browser that asked for a script must not get a page back ("MIME type
text/html"). Only Host names on the allow-list are answered (hosts.py). With a Hub, every
HTML page gets the reload client (inject.py).

Middleware, outermost first: headers, hosts, ETag, injection, then starlette's own
(error handler, routes). Headers sit outside starlette's error handler so that a 500 is
isolated too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import NotModifiedResponse, PathLike, StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from wbspawn import assets
from wbspawn.build.pipeline import BuildResult
from wbspawn.config import Config
from wbspawn.serve.etag import EtagMiddleware
from wbspawn.serve.headers import HeadersMiddleware, response_headers
from wbspawn.serve.hosts import HostsMiddleware, allowed_hosts
from wbspawn.serve.inject import InjectMiddleware, served_snippet
from wbspawn.serve.reload import REFUSED, WS_PATH, Hub
from wbspawn.serve.runtimefiles import (
    IMMUTABLE,
    VERSIONED_PREFIX,
    RuntimeVersion,
    check_version,
    redirect_to_version,
)

# The build being served: a fixed one, or the dev loop's last good build (None before the
# first good build, while the page shows the first build's errors).
CurrentBuild = Callable[[], BuildResult | None]
# Returns once the build's output may be served (the dev loop holds it while a build its pages
# reloaded early for runs: rebuild.py).
Settled = Callable[[], Awaitable[object]]

# Set explicitly: Python's mimetypes differs between versions and platforms (3.11 has no
# .wasm), and WebAssembly.instantiateStreaming() rejects anything but application/wasm.
MEDIA_TYPES: Mapping[str, str] = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    ".json": "application/json",
    ".html": "text/html",
    ".css": "text/css",
    ".map": "application/json",
    ".svg": "image/svg+xml",
}
# Sources and other text an app dir holds, served as plain text (starlette adds the utf-8
# charset): the machine's mime.types knows some of these suffixes as something else
# (`.rs` as application/rls-services+xml, `.ts` as a Qt or MPEG-TS file) and others not
# at all (`.toml`, `.lock`: octet-stream, a download). A file without a suffix (LICENSE,
# Makefile) is plain text too; any other type is the machine's guess.
TEXT_TYPE = "text/plain"
TEXT_SUFFIXES = frozenset(
    {".rs", ".toml", ".lock", ".ts", ".mts", ".cts", ".tsx", ".jsx", ".md", ".txt"}
    | {".py", ".sh", ".c", ".h", ".cc", ".cpp", ".hpp", ".wat", ".wgsl", ".glsl"}
    | {".yml", ".yaml", ".ini", ".cfg", ".patch", ".diff", ".log"}
)


def media_type(path: str | os.PathLike[str]) -> str | None:
    """The Content-Type for a file; None leaves it to starlette (the machine's guess)."""
    suffix = Path(path).suffix.lower()
    if suffix in MEDIA_TYPES:
        return MEDIA_TYPES[suffix]
    return TEXT_TYPE if suffix in TEXT_SUFFIXES or not suffix else None


# Directories that are build output, never web files (cargo's target dir, the app's own or
# a nested crate's).
APP_HIDDEN_DIRS = frozenset({"target"})
# Files served at the root as they are, in development and in a dist.
PUBLIC_DIR = "public"


def is_app_private(parts: Sequence[str]) -> bool:
    """Whether a path inside the app (its parts) is never a web file: a dotfile or
    dot-directory, or anything in a `target/`."""
    return any(part.startswith(".") or part in APP_HIDDEN_DIRS for part in parts)


def public_root(app_dir: Path) -> Path | None:
    """APP_DIR/public/, resolved, if the app has one it may serve at the root: it may be a
    symlink, but only to a directory of the app that is not private itself. Served at the
    root, its files are judged against it, so where it leads must be judged here."""
    root = Path(os.path.realpath(app_dir))
    public = Path(os.path.realpath(root / PUBLIC_DIR))
    if not public.is_relative_to(root) or is_app_private(public.relative_to(root).parts):
        return None
    return public if public.is_dir() else None


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path


class Files(StaticFiles):
    """StaticFiles that keeps private files private and sets our MIME types and cache policy.

    Private: any path with a part that `is_private` names (dotfiles and dot-directories
    here), asked for by URL or reached through a symlink: the rules apply to the URL and to
    the resolved file, which must also lie inside the served directory.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # A websocket to a path under a files mount (StaticFiles would assert).
            await send({"type": "websocket.close", "code": REFUSED})
            return
        await super().__call__(scope, receive, send)

    def is_private(self, parts: Sequence[str]) -> bool:
        # `..` could escape; `.git`, `.env`, `.cargo` must stay private.
        return any(part.startswith(".") for part in parts)

    def get_path(self, scope: Scope) -> str:
        route_path = _route_path(scope)
        # The path is already percent-decoded here, so `%2e%2e` arrives as `..`.
        if self.is_private(route_path.split("/")) or "\\" in route_path:
            raise HTTPException(status_code=404)
        path = super().get_path(scope)
        # normpath drops a trailing slash, which says the URL names a directory: kept.
        return path + "/" if route_path.endswith("/") and path != "." else path

    def directories(self) -> list[Path]:
        return [Path(d) for d in self.all_directories]

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        # StaticFiles' own lookup stops symlinks that leave the directory, but not one that
        # stays inside and points at a private file: `public.txt -> .env`.
        for directory in self.directories():
            root = Path(os.path.realpath(directory))
            full_path = Path(os.path.realpath(root / path))
            if not full_path.is_relative_to(root):
                continue
            if self.is_private(full_path.relative_to(root).parts):
                return "", None
            try:
                stat_result = full_path.stat()
            # Not found, and also a symlink loop (ELOOP) or an unreadable directory: a
            # plain 404, never a 500 with a traceback for each request.
            except OSError:
                continue
            # `robots.txt/` names a directory, and a file is none (as hosts answer it: the
            # page's relative URLs would resolve under the file's name).
            if path.endswith("/") and not stat.S_ISDIR(stat_result.st_mode):
                continue
            return str(full_path), stat_result
        return "", None

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=media_type(full_path),
            # Revalidate every time (cheap 304s via ETag): a stale cached worker script
            # next to a fresh wasm module fails in confusing ways.
            headers={"cache-control": "no-cache"},
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class RuntimeFiles(Files):
    """runtime-js/: at `/_wbspawn/<file>` a redirect to the file's versioned URL, at
    `/_wbspawn/v/<version>/<file>` the file, cached for good (runtimefiles.py says why)."""

    def __init__(self, *, directory: Path, version: RuntimeVersion, versioned: bool) -> None:
        super().__init__(directory=directory)
        self.versioned = versioned
        self.version = version

    async def get_response(self, path: str, scope: Scope) -> Response:
        version = self.version()
        if self.versioned:
            check_version(scope, version)
            response = await super().get_response(path, scope)
            if response.status_code in (200, 304):
                response.headers["cache-control"] = IMMUTABLE
            return response
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            return redirect_to_version(version, path)
        return response


def runtime_routes(runtime_js: Path) -> list[Mount]:
    """The runtime's files: the versioned URLs and the stable ones that redirect to them,
    one version (the hash of `runtime_js`) for both."""
    version = RuntimeVersion(runtime_js)
    return [
        Mount(
            VERSIONED_PREFIX + "/{version}",
            app=RuntimeFiles(directory=runtime_js, version=version, versioned=True),
            name="wbspawn-runtime-versioned",
        ),
        Mount(
            "/_wbspawn",
            app=RuntimeFiles(directory=runtime_js, version=version, versioned=False),
            name="wbspawn-runtime",
        ),
    ]


class AppFiles(Files):
    """The app's own files: never a `target/`, and `/` falls back to the default page."""

    def __init__(
        self, *, directory: PathLike, default_index: Path, default_icon: Path, **kwargs: Any
    ) -> None:
        super().__init__(directory=directory, **kwargs)
        self.default_index = default_index
        self.default_icon = default_icon

    def is_private(self, parts: Sequence[str]) -> bool:
        return is_app_private(parts)

    def directories(self) -> list[Path]:
        # APP_DIR/public/ is served at the root first, as `wbspawn build` puts it in a dist:
        # files the app fetches by URLs no scan can see (ship/site.py).
        dirs = super().directories()
        public = public_root(Path(str(self.directory)))
        return dirs if public is None else [public, *dirs]

    async def get_response(self, path: str, scope: Scope) -> Response:
        # Browsers ask for /favicon.ico on their own; an app without one would otherwise log
        # a 404 console error on every load (and fail `wbspawn check`).
        defaults = {
            ".": ("index.html", self.default_index),
            "favicon.ico": (path, self.default_icon),
        }
        if path not in defaults:
            return await super().get_response(path, scope)
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        own, fallback = defaults[path]
        full_path, stat_result = self.lookup_path(own)
        if stat_result is None or not stat.S_ISREG(stat_result.st_mode):
            full_path, stat_result = str(fallback), fallback.stat()
        return self.file_response(full_path, stat_result, scope)


class PkgFiles(Files):
    """wasm-bindgen's output of the build being served; nothing before the first good one.
    While `settled` waits, so do its requests."""

    def __init__(self, current: CurrentBuild, settled: Settled | None = None) -> None:
        super().__init__(directory=None, check_dir=False)
        self.current = current
        self.settled = settled

    async def get_response(self, path: str, scope: Scope) -> Response:
        if self.settled is not None and scope["method"] in ("GET", "HEAD"):
            await self.settled()
        return await super().get_response(path, scope)

    def directories(self) -> list[Path]:
        # Asked per request: a rebuild may move the output (the crate was renamed).
        result = self.current()
        return [] if result is None else [result.out_dir]


class DevStarlette(Starlette):
    """Starlette with the dev server's middleware outside its error handler.

    Middleware passed to Starlette(middleware=...) runs inside ServerErrorMiddleware, so
    a 500 would go out without the headers.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        hosts: tuple[str, ...],
        hub: Hub | None,
        **kwargs: Any,
    ) -> None:
        self._extra_headers = dict(headers)
        self._hosts = hosts
        self._hub = hub
        super().__init__(**kwargs)

    @property
    def fixed_headers(self) -> tuple[tuple[str, str], ...]:
        """What every response carries, for those the server makes itself (protocols.py)."""
        return tuple(self._extra_headers.items())

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        if self._hub is not None:
            hub = self._hub
            app = InjectMiddleware(app, lambda: served_snippet(hub.served()))
        app = EtagMiddleware(app)
        app = HostsMiddleware(app, self._hosts)
        return HeadersMiddleware(app, self._extra_headers)


def app_settings(pkg: str, crate: str, mode: str) -> dict[str, str]:
    """`/_wbspawn/app.json`: what the default page starts (the glue's URL, its `mode`)."""
    return {"pkg": pkg, "crate": crate, "mode": mode}


def create_app(
    config: Config,
    build: BuildResult | CurrentBuild,
    *,
    hub: Hub | None = None,
    settled: Settled | None = None,
    runtime_js_dir: Path | None = None,
    static_dir: Path | None = None,
    headers: Mapping[str, str] | None = None,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
) -> Starlette:
    """The dev server's app. With a Hub: the reload websocket, and its client in every page.
    With `settled`: the build's output (`/pkg/`, `app.json`) waits for it."""
    runtime_js = assets.runtime_js_dir() if runtime_js_dir is None else runtime_js_dir
    static = assets.static_dir() if static_dir is None else static_dir
    current: CurrentBuild = (lambda: build) if isinstance(build, BuildResult) else build

    async def app_json(request: Request) -> Response:
        if settled is not None:
            await settled()
        result = current()
        if result is None:
            return JSONResponse({"error": "no successful build yet"}, status_code=503)
        return JSONResponse(app_settings(f"/pkg/{result.js_name}", result.crate_name, config.mode))

    routes: list[Route | Mount | WebSocketRoute] = []
    if hub is not None:
        routes.append(WebSocketRoute(WS_PATH, hub.websocket))
    routes += [
        Route("/_wbspawn/app.json", app_json, methods=["GET", "HEAD"]),
        Mount("/_wbspawn/static", app=Files(directory=static), name="wbspawn-static"),
        *runtime_routes(runtime_js),
        Mount("/pkg", app=PkgFiles(current, settled), name="pkg"),
        Mount(
            "/",
            app=AppFiles(
                directory=config.app_dir,
                default_index=static / "index.html",
                default_icon=static / "favicon.svg",
            ),
            name="app",
        ),
    ]
    return DevStarlette(
        routes=routes,
        headers=response_headers(config) if headers is None else headers,
        hosts=allowed_hosts(config),
        hub=hub,
        lifespan=lifespan,
    )
