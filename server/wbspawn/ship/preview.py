"""`wbspawn preview DIR`: a built dist, served the way a production host serves it.

The headers are the generated configs' (hosting.py): COOP/COEP/CORP, nosniff and the app's
own on every response, errors included (also uvicorn's own 400s: serve/protocols.py);
`immutable` caching for assets/, `no-cache` for the rest.
Files are served as they are: no watching, no build, no script injected into pages.
Like a static host: `/` and `/dir/` serve `index.html`, `/dir` redirects to `/dir/` (301),
a `404.html` at the root answers misses, and what the generated configs hide is never
served: dotfiles and dot-directories, and the host configs, at any depth.
The Host allow-list of the dev server applies (a preview runs on a developer's machine).

`preview_app(dist_dir)` is the ASGI app, for `wbspawn check DIST_DIR` too.
"""

from __future__ import annotations

import threading
import webbrowser
from collections.abc import Iterable, Sequence
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wbspawn.config import Config
from wbspawn.serve.app import Files
from wbspawn.serve.hosts import DEFAULT_HOSTS, HostsMiddleware, allowed_hosts
from wbspawn.serve.server import bind_socket, is_loopback, url_for, uvicorn_config
from wbspawn.ship import hosting
from wbspawn.ship.manifest import Dist, find_dist, read_dist
from wbspawn.terminal import Terminal

_HIDDEN = frozenset({*hosting.CONFIG_FILES})


class DistFiles(Files):
    """The dev server's files as a static host serves a dist: index.html for directories, our
    media types, nothing private (dotfiles and dot-directories, and the host configs at any
    depth, as the generated configs hide them), whether asked for by URL or reached through a
    symlink."""

    def is_private(self, parts: Sequence[str]) -> bool:
        names = [p for p in parts if p]
        return super().is_private(parts) or (bool(names) and names[-1] in _HIDDEN)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if isinstance(response, RedirectResponse):
            # `/dir` -> `/dir/` as nginx, Apache and Netlify send it (starlette's is a 307).
            return RedirectResponse(response.headers["location"], status_code=301)
        return response


class HostHeadersMiddleware:
    """The dist's header rules on every HTTP response; Cache-Control on successes only (a
    404 must never be cached as `immutable`)."""

    def __init__(self, app: ASGIApp, rules: hosting.Rules) -> None:
        self.app = app
        self.rules = rules

    @property
    def fixed_headers(self) -> tuple[tuple[str, str], ...]:
        """What every response carries, for those the server makes itself (protocols.py)."""
        return self.rules.headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cache = hosting.cache_control(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.rules.headers:
                    headers[name] = value
                if message["status"] < 400:
                    headers["Cache-Control"] = cache
            await send(message)

        await self.app(scope, receive, send_with_headers)


def preview_app(dist_dir: Path, *, allowed_hosts: Iterable[str] = DEFAULT_HOSTS) -> ASGIApp:
    """The ASGI app that serves the dist at `dist_dir` (a WbspawnError if it is none) as a
    production host would: for `wbspawn preview` and `wbspawn check DIST_DIR`.

    `allowed_hosts`: the Host names it answers (localhost, 127.0.0.1 and [::1] by default;
    any other gets 400, as in the dev server)."""
    dist = read_dist(dist_dir)
    return _app(dist, tuple(allowed_hosts))


def _app(dist: Dist, hosts: Sequence[str]) -> ASGIApp:
    files = DistFiles(directory=dist.root, html=True, follow_symlink=False)
    # Starlette turns the files' HTTPExceptions into responses; the header middleware sits
    # outside its error handler, so a 500 is isolated too.
    app: ASGIApp = Starlette(routes=[Mount("/", app=files)])
    app = HostsMiddleware(app, hosts)
    return HostHeadersMiddleware(app, dist.rules)


def preview(config: Config, terminal: Terminal | None = None) -> None:
    """Serves the dist at (or under) `config.app_dir` until interrupted."""
    term = Terminal() if terminal is None else terminal
    dist = read_dist(find_dist(config.app_dir))
    sock = bind_socket(config.host, config.port)
    with sock:
        url = url_for(config.host, sock)
        if not is_loopback(config.host):
            term.warn(
                f"listening on {config.host}: browsers allow threads only in a secure "
                "context (https or localhost); other machines need https in front of this"
            )
        term.line(f"previewing {dist.root} (no rebuilds: run `wbspawn build` for changes)", "dim")
        app = _app(dist, allowed_hosts(config))
        term.serving(dist.crate, url)
        if config.open_browser:
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
        server = uvicorn.Server(uvicorn_config(app, config.host, config.port))
        server.run(sockets=[sock])
