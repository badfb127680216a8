"""Response headers that make the page cross-origin isolated, and keep types as given.

SharedArrayBuffer (the wasm module's shared memory) exists only in a cross-origin
isolated page, and a worker only gets it if its own script response carries the
headers too. Peers set them on 200s only and break on 304s, 404s and worker scripts,
so this middleware sets them on every HTTP response, errors included; `nosniff` with
them. An app that sets such headers says which (`SetsHeaders`), so the server can put
them on the answers it makes without the app (protocols.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final, Protocol, runtime_checkable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wbspawn.config import Config, merge_headers


def isolation_headers(coep: str = "require-corp") -> dict[str, str]:
    """COOP/COEP/CORP; `coep="credentialless"` is the other value browsers accept."""
    return {
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Embedder-Policy": coep,
        # Lets a require-corp page (and its workers) load our own responses.
        "Cross-Origin-Resource-Policy": "same-origin",
    }


ISOLATION_HEADERS: Mapping[str, str] = MappingProxyType(isolation_headers())

# A response is taken as the type it is served with: no browser runs a file it was told is
# text as a script or renders it as a page.
NOSNIFF: Final = ("X-Content-Type-Options", "nosniff")


def base_headers(coep: str = "require-corp") -> tuple[tuple[str, str], ...]:
    """What every response carries, from the dev server and from a host: isolation, nosniff."""
    return (*isolation_headers(coep).items(), NOSNIFF)


def response_headers(config: Config) -> dict[str, str]:
    """What the dev server sets on every response: isolation, nosniff, no-cache, --header."""
    # Every response is revalidated (a cheap 304 with its ETag): a stale cached worker script
    # next to a fresh wasm module fails in confusing ways.
    no_cache = [("Cache-Control", "no-cache")]
    return dict(merge_headers(base_headers(config.coep), no_cache, config.headers))


@runtime_checkable
class SetsHeaders(Protocol):
    """An app that sets `fixed_headers` on every response it makes, errors included."""

    @property
    def fixed_headers(self) -> tuple[tuple[str, str], ...]: ...


def fixed_headers(app: ASGIApp) -> tuple[tuple[str, str], ...]:
    """What `app` sets on every error response, for those the server makes without it (a
    request it cannot parse: protocols.py); base_headers() for an app that does not say."""
    return app.fixed_headers if isinstance(app, SetsHeaders) else base_headers()


class HeadersMiddleware:
    """Set fixed headers on every HTTP response; other scope types pass through."""

    def __init__(
        self,
        app: ASGIApp,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = ISOLATION_HEADERS,
    ) -> None:
        self.app = app
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        self.headers: tuple[tuple[str, str], ...] = tuple(pairs)

    @property
    def fixed_headers(self) -> tuple[tuple[str, str], ...]:
        return self.headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # A content-addressed response (runtimefiles.py) keeps its `immutable`: its
                # URL changes with its content, so no policy needs to revalidate it.
                immutable = "immutable" in headers.get("cache-control", "")
                for name, value in self.headers:
                    if not (immutable and name.lower() == "cache-control"):
                        headers[name] = value  # replaces, never duplicates
            await send(message)

        await self.app(scope, receive, send_with_headers)
