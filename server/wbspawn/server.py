"""Running the dev server: build once, then serve with uvicorn.

Never uvicorn --reload: it restarts the process, which drops every websocket and
forgets the last good build.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
import threading
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from wbspawn import toolchain as toolchain_mod
from wbspawn.app import create_app
from wbspawn.build import BuildResult, build
from wbspawn.config import Config
from wbspawn.errors import WbspawnError


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0 picks a free one), or a WbspawnError if busy.

    Binding before the build (minutes the first time) tells the user about a busy port at
    once, and handing this very socket to uvicorn leaves no window for another process.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise WbspawnError(f"cannot resolve host {host!r} ({exc}): pass --host 127.0.0.1") from exc
    family, socktype, proto, _, address = infos[0]
    sock = socket.socket(family, socktype, proto)
    # Same as uvicorn: lets a restarted server reuse a port left in TIME_WAIT; Linux still
    # refuses a port with a live listener.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise WbspawnError(f"port {port} on {host} is in use: pass --port N") from exc
        raise WbspawnError(
            f"cannot listen on {host}:{port} ({exc.strerror}): pass --host or --port"
        ) from exc
    return sock


def url_for(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    # Browsers treat localhost/127.0.0.1 as secure contexts (needed for cross-origin
    # isolation over plain http); a wildcard address is not a URL to open.
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]" if shown != "::" else "[::1]"
    return f"http://{shown}:{port}/"


def prepare(config: Config) -> tuple[Starlette, BuildResult]:
    """Discover the toolchain, build the app crate and make the ASGI app."""
    tc = toolchain_mod.discover()
    result = build(config, tc)
    return create_app(config, result), result


def uvicorn_server(app: ASGIApp, config: Config) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=config.port, log_level="warning")
    )


def serve(config: Config) -> None:
    """Build, then serve until interrupted. Errors propagate as WbspawnError."""
    sock = bind_socket(config.host, config.port)
    with sock:
        print(
            f"wbspawn: building {config.app_dir} ({config.profile}; the first build "
            "compiles std and takes minutes)",
            file=sys.stderr,
            flush=True,
        )
        app, result = prepare(config)
        print(
            f"wbspawn: built {result.crate_name} in {result.duration_s:.1f}s "
            f"(cargo {result.cargo_s:.1f}s, wasm-bindgen {result.bindgen_s:.1f}s)",
            file=sys.stderr,
        )
        print(f"wbspawn: serving {result.crate_name} at {url_for(config.host, sock)}", flush=True)
        uvicorn_server(app, config).run(sockets=[sock])


@contextlib.contextmanager
def running(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` in a background thread; yields the base URL ("http://127.0.0.1:PORT/").

    For tests: port 0 picks a free port without a race.
    """
    sock = bind_socket(host, port)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="wbspawn-server", daemon=True
    )
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise WbspawnError(f"the server on {host}:{port} stopped while starting")
            thread.join(0.02)
        yield url_for(host, sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
