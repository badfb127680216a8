"""The Host header allow-list: the dev server's defence against DNS rebinding.

A page on evil.example can make its own name resolve to 127.0.0.1 and then read the dev
server as "same origin" (Vite's advisory GHSA-vg6x-rcgg-rjx6). Its requests still carry
`Host: evil.example`, so a server that answers only the names it is known by is safe.
Pure ASGI, like starlette's TrustedHostMiddleware, but the refusal says how to allow the
name; a websocket upgrade is refused the way reload.py refuses one (`REFUSED`).
"""

from __future__ import annotations

import re
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


# What a Host header may be (RFC 9110 7.2): a name or an IPv4 address, or an IPv6 address in
# brackets, then optionally `:` and a port. Nothing else: a lenient split would read
# `localhost` out of `localhost:1@evil.com` or `[::1]evil.com`.
_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::[0-9]{1,5})?")


def host_name(header: str) -> str | None:
    """The name part of a Host header, lower case (`[::1]:8000` -> `[::1]`); None unless the
    header is a host, or a host and a numeric port."""
    match = _HOST.fullmatch(header.strip().lower())
    return match[1] if match else None


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
        if name is not None and is_allowed(name, self.allowed):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": REFUSED})
            return
        if name is None:
            text = f"wbspawn: Host {header!r} is not a host, or a host and a port: refused\n"
        else:
            text = (
                f"wbspawn: Host {header!r} is not allowed (DNS rebinding protection): "
                f"restart with --allowed-host {name} if you trust it\n"
            )
        await PlainTextResponse(text, status_code=400)(scope, receive, send)
