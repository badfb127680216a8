"""The dev server's ASGI app.

URL layout (first match wins):

    /_wbspawn/app.json     {"pkg": "/pkg/<js_name>", "crate": "<package name>"}
    /_wbspawn/static/...   the default page (static/: index.html, default-app.js)
    /_wbspawn/...          the JS runtime (runtime-js/: bootstrap.js, workers, ...)
    /pkg/...               wasm-bindgen's output for the app (<lib>.js, <lib>_bg.wasm, ...)
    /                      APP_DIR/index.html, else the default page
    /...                   the app's own web files under APP_DIR

Every response carries the cross-origin isolation headers (headers.py). A missing file
is a plain-text 404, never an HTML fallback: a browser that asked for a script must not
get a page back ("MIME type text/html").
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import NotModifiedResponse, PathLike, StaticFiles
from starlette.types import ASGIApp, Scope

from wbspawn import assets
from wbspawn.build import BuildResult
from wbspawn.config import Config
from wbspawn.headers import ISOLATION_HEADERS, HeadersMiddleware

# Set explicitly: Python's mimetypes differs between versions and platforms (3.11 has no
# .wasm), and WebAssembly.instantiateStreaming() rejects anything but application/wasm.
MEDIA_TYPES: Mapping[str, str] = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".html": "text/html",
    ".css": "text/css",
    ".map": "application/json",
    ".svg": "image/svg+xml",
}

# Directories under APP_DIR that are build output or tooling, never web files.
APP_HIDDEN_DIRS = frozenset({"target"})


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path


class Files(StaticFiles):
    """StaticFiles that refuses dot segments and sets our MIME types and cache policy."""

    def get_path(self, scope: Scope) -> str:
        route_path = _route_path(scope)
        parts = route_path.split("/")
        # The path is already percent-decoded here, so `%2e%2e` arrives as `..`. Any
        # dot segment is refused: `..` could escape, `.git`/`.env` must stay private.
        if any(part.startswith(".") for part in parts) or "\\" in route_path:
            raise HTTPException(status_code=404)
        self.check_route_parts([p for p in parts if p])
        return super().get_path(scope)

    def check_route_parts(self, parts: list[str]) -> None:
        """Hook for mounts that hide more; raise HTTPException to refuse."""

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
            media_type=MEDIA_TYPES.get(Path(full_path).suffix.lower()),
            # Revalidate every time (cheap 304s via ETag): a stale cached worker script
            # next to a fresh wasm module fails in confusing ways.
            headers={"cache-control": "no-cache"},
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class AppFiles(Files):
    """The app's own files: never target/, and `/` falls back to the default page."""

    def __init__(
        self, *, directory: PathLike, default_index: Path, default_icon: Path, **kwargs: Any
    ) -> None:
        super().__init__(directory=directory, **kwargs)
        self.default_index = default_index
        self.default_icon = default_icon

    def check_route_parts(self, parts: list[str]) -> None:
        if parts and parts[0] in APP_HIDDEN_DIRS:
            raise HTTPException(status_code=404)

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


class IsolatedStarlette(Starlette):
    """Starlette with the headers middleware outside its error handler.

    Middleware passed to Starlette(middleware=...) runs inside ServerErrorMiddleware, so
    a 500 would go out without the headers.
    """

    def __init__(self, *, headers: Mapping[str, str], **kwargs: Any) -> None:
        self._extra_headers = dict(headers)
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return HeadersMiddleware(super().build_middleware_stack(), self._extra_headers)


def create_app(
    config: Config,
    build_result: BuildResult,
    *,
    runtime_js_dir: Path | None = None,
    static_dir: Path | None = None,
    headers: Mapping[str, str] = ISOLATION_HEADERS,
) -> Starlette:
    runtime_js = assets.runtime_js_dir() if runtime_js_dir is None else runtime_js_dir
    static = assets.static_dir() if static_dir is None else static_dir
    app_meta = {"pkg": f"/pkg/{build_result.js_name}", "crate": build_result.crate_name}

    async def app_json(request: Request) -> Response:
        return JSONResponse(app_meta, headers={"cache-control": "no-cache"})

    routes = [
        Route("/_wbspawn/app.json", app_json, methods=["GET", "HEAD"]),
        Mount("/_wbspawn/static", app=Files(directory=static), name="wbspawn-static"),
        Mount("/_wbspawn", app=Files(directory=runtime_js), name="wbspawn-runtime"),
        Mount("/pkg", app=Files(directory=build_result.out_dir), name="pkg"),
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
    return IsolatedStarlette(routes=routes, headers=headers)
