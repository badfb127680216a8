"""Running the dev server: watch, build, then serve with uvicorn while rebuilding.

Everything runs in one process and one event loop: the watcher, the rebuild scheduler
(its builds on a worker thread) and uvicorn. Never uvicorn --reload: it restarts the
process, which drops every websocket and forgets the last good build.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import socket
import threading
import webbrowser
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from wbspawn import assets
from wbspawn.build import toolchain as toolchain_mod
from wbspawn.build.cargo import manifest_patch_args, read_metadata
from wbspawn.build.pipeline import build
from wbspawn.build.toolchain import Toolchain
from wbspawn.config import Config
from wbspawn.errors import BuildError, WbspawnError
from wbspawn.output import AppExit
from wbspawn.serve.app import create_app
from wbspawn.serve.headers import fixed_headers
from wbspawn.serve.hosts import WILDCARD_HOSTS
from wbspawn.serve.protocols import HEADER_TIMEOUT_S, protocols
from wbspawn.serve.rebuild import Rebuilder, package_name
from wbspawn.serve.reload import Hub, PageReport
from wbspawn.serve.watch import Watcher, WatchPlan, plan_from_metadata
from wbspawn.terminal import Terminal


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0 picks a free one), or a WbspawnError if busy.

    Binding before the build (minutes the first time) tells the user about a busy port at
    once, and handing this very socket to uvicorn leaves no window for another process.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    # UnicodeError: a name the IDNA codec refuses before any lookup (an empty or long label).
    except (socket.gaierror, UnicodeError) as exc:
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
    # Listening at once: a browser opened during the first build waits in the backlog for
    # the page instead of being refused.
    sock.listen(128)
    return sock


def url_for(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    # Browsers treat localhost/127.0.0.1 as secure contexts (needed for cross-origin
    # isolation over plain http); a wildcard address is not a URL to open.
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]" if shown != "::" else "[::1]"
    return f"http://{shown}:{port}/"


def uvicorn_config(
    app: ASGIApp, host: str, port: int, *, header_timeout: float = HEADER_TIMEOUT_S
) -> uvicorn.Config:
    # h11 and websockets' sans-I/O protocol ("auto" picks websockets' legacy one, which
    # warns), with the app's headers on the answers uvicorn makes itself (protocols.py).
    http, ws = protocols(fixed_headers(app), header_timeout)
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", http=http, ws=ws, lifespan="auto"
    )


def is_wildcard(host: str) -> bool:
    return host in WILDCARD_HOSTS


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def watch_plan(config: Config, toolchain: Toolchain, runtime_js: Path) -> WatchPlan:
    """What to watch, from `cargo metadata` with deps; the app alone if that fails."""
    metadata = None
    # A broken Cargo.toml (the build reports it; its fix makes a new plan) or a cargo that
    # went missing: watch the app alone meanwhile.
    with contextlib.suppress(WbspawnError, OSError):
        env = toolchain.subprocess_env()
        patch = manifest_patch_args(config.app_dir)
        metadata = read_metadata(config.app_dir, toolchain, env, deps=True, extra_args=patch)
    return plan_from_metadata(
        config.app_dir, metadata, web_dirs=[runtime_js], ignored=[config.cache_dir]
    )


def serve(config: Config, terminal: Terminal | None = None) -> None:
    """Build, then serve (and watch, rebuild, reload) until interrupted.

    Errors before serving propagate as WbspawnError. With watching on, a failed first
    build is served anyway: the page shows its errors, and the fix reloads it.
    """
    term = Terminal() if terminal is None else terminal
    sock = bind_socket(config.host, config.port)
    with sock:
        url = url_for(config.host, sock)
        if not is_loopback(config.host):
            term.warn(
                f"listening on {config.host}: other machines can reach this server, but "
                "browsers ignore COOP/COEP outside a secure context (https or localhost), "
                "so threads only work from this machine or through https. Other machines "
                "must use a name passed with --allowed-host."
            )
        toolchain = toolchain_mod.discover()
        asyncio.run(_serve(config, toolchain, sock, url, term))


async def _serve(
    config: Config, toolchain: Toolchain, sock: socket.socket, url: str, term: Terminal
) -> None:
    def on_page(report: PageReport) -> None:
        # What the app printed, or its exit, as its page reports it.
        if isinstance(report, AppExit):
            term.app_exit(report)
        else:
            term.app_output(report)

    hub = Hub(on_page=on_page)
    rebuilder = Rebuilder(config, toolchain, hub, term, build)
    runtime_js = assets.runtime_js_dir()
    tasks: list[asyncio.Task[None]] = []

    async def stop() -> None:
        rebuilder.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    if config.watch:
        # Watching starts before the first build: an edit made while std compiles (minutes,
        # the first time) is not lost, it makes one more build.
        watcher = Watcher(lambda: watch_plan(config, toolchain, runtime_js), on_error=term.warn)
        tasks.append(_supervised(_feed(watcher, rebuilder), "the file watcher", term))
    try:
        first = await rebuilder.build_now()
    except BaseException:
        await stop()
        raise
    if first is None:
        error = rebuilder.last_error or WbspawnError("the first build failed")
        # Compiler errors are served (the page shows them until fixed); a setup problem
        # (not a crate, a missing tool) is the CLI's loud error.
        if not config.watch or rebuilder.stopped or not isinstance(error, BuildError):
            await stop()
            raise error
        term.line("serving the errors until a build succeeds: fix the code and save", "yellow")
    if config.watch:
        tasks.append(_supervised(rebuilder.run(), "the rebuild loop", term))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # Shutdown, before uvicorn re-raises SIGINT/SIGTERM: no build outlives the server.
        await stop()

    app = create_app(
        config, rebuilder.current_build, hub=hub, settled=rebuilder.settled, lifespan=lifespan
    )
    name = first.crate_name if first is not None else package_name(config.app_dir)
    if first is not None:
        for note in (first.std_threads, first.stack_checks):
            term.line(note, "dim")
    term.serving(name, url)
    if config.open_browser:
        # A thread: some platforms' openers block until the browser exits.
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    server = StoppingServer(
        uvicorn_config(app, config.host, config.port),
        on_exit=functools.partial(asyncio.get_running_loop().call_soon_threadsafe, rebuilder.stop),
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        await stop()


class StoppingServer(uvicorn.Server):
    """uvicorn's server, which also says when it is told to exit: uvicorn waits for every
    request in flight before the app's shutdown runs, and a page waiting for a build's output
    (rebuild.py) would hold it there until the build ends."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], object]) -> None:
        super().__init__(config)
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: on_exit only schedules (call_soon_threadsafe).
        self.on_exit()
        super().handle_exit(sig, frame)


def _supervised(work: Coroutine[Any, Any, None], what: str, term: Terminal) -> asyncio.Task[None]:
    """A task whose crash is said out loud (a silent one would stop the dev loop unseen)."""

    async def run() -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            term.line(
                f"internal error: {what} stopped ({type(exc).__name__}: {exc}); "
                "restart wbspawn, and please report this",
                "red",
                "bold",
            )
            raise

    return asyncio.create_task(run())


async def _feed(watcher: Watcher, rebuilder: Rebuilder) -> None:
    async for changes in watcher.batches():
        if watcher.plan is not None:
            rebuilder.handle(changes, watcher.plan)


@contextlib.contextmanager
def running(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    header_timeout: float = HEADER_TIMEOUT_S,
) -> Iterator[str]:
    """Serve `app` in a background thread; yields the base URL ("http://127.0.0.1:PORT/").

    For tests: port 0 picks a free port without a race.
    """
    sock = bind_socket(host, port)
    server = uvicorn.Server(uvicorn_config(app, host, port, header_timeout=header_timeout))
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
