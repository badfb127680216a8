"""ETags for the responses that do not carry one (JSON from handlers), and their 304s.

Files get theirs from StaticFiles (mtime and size); this pure ASGI middleware gives every
other 200 GET/HEAD a strong ETag made from its body and answers a matching If-None-Match
with 304, so with `Cache-Control: no-cache` everywhere the browser revalidates each
response cheaply. Such bodies are small; file responses are never buffered.
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wbspawn.serve.buffered import buffering_send, send_whole

# What a 304 keeps of the 200 it stands for (RFC 9110 15.4.5; as starlette's
# NotModifiedResponse).
_KEPT_ON_304 = ("cache-control", "content-location", "date", "etag", "expires", "vary")


def etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


async def send_not_modified(send: Send, start: Message) -> None:
    """The 304 that stands for the 200 `start` would begin."""
    kept = [(k, v) for k, v in start["headers"] if k.decode().lower() in _KEPT_ON_304]
    await send_whole(send, {"type": "http.response.start", "status": 304, "headers": kept}, b"")


class EtagMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")

        def untagged_ok(start: Message) -> bool:
            return start["status"] == 200 and "etag" not in Headers(raw=start.get("headers", []))

        async def tag(start: Message, body: bytes) -> None:
            etag = etag_for(body)
            MutableHeaders(scope=start)["etag"] = etag
            if if_none_match is not None and matches(if_none_match, etag):
                await send_not_modified(send, start)
                return
            await send_whole(send, start, body)

        await self.app(scope, receive, buffering_send(send, untagged_ok, tag))
