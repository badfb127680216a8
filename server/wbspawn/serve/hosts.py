"""The Host header allow-list: the dev server's defence against DNS rebinding.

A page on evil.example can make its own name resolve to 127.0.0.1 and then read the dev
server as "same origin" (Vite's advisory GHSA-vg6x-rcgg-rjx6). Its requests still carry
`Host: evil.example`, so a server that answers only the names it is known by is safe.
Pure ASGI, like starlette's TrustedHostMiddleware, but the refusal says how to allow the
name; a websocket upgrade is refused the way reload.py refuses one (`REFUSED`).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from wbspawn.config import Config, check_host_name
from wbspawn.serve.reload import REFUSED

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]", ""})


def allowed_hosts(config: Config) -> tuple[str, ...]:
    """localhost, 127.0.0.1, [::1], the bound host unless a wildcard, then --allowed-host."""
    hosts = list(DEFAULT_HOSTS)
    if config.host not in WILDCARD_HOSTS:
        hosts.append(check_host_name(config.host, where="--host", bind=True))
    hosts += config.allowed_hosts
    return tuple(dict.fromkeys(hosts))


def host_name(header: str) -> str:
    """The name part of a Host header, lower case: `[::1]:8000` -> `[::1]`."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[: end + 1] if end != -1 else header
    return header.rsplit(":", 1)[0] if ":" in header else header


def is_allowed(name: str, allowed: Iterable[str]) -> bool:
    for entry in allowed:
        if entry.startswith("."):
            if name == entry[1:] or name.endswith(entry):
                return True
        elif name == entry:
            return True
    return False


class HostsMiddleware:
    """Answers 400 to any request (and refuses any websocket) whose Host is not allowed."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = tuple(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("host", "")
        name = host_name(header)
        if name and is_allowed(name, self.allowed):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": REFUSED})
            return
        response = PlainTextResponse(
            f"wbspawn: Host {header!r} is not allowed (DNS rebinding protection): "
            f"restart with --allowed-host {name or 'NAME'} if you trust it\n",
            status_code=400,
        )
        await response(scope, receive, send)
