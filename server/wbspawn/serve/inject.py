"""Injects the reload client into every HTML page the dev server returns.

Pure ASGI and shaped like starlette's GZipMiddleware: it wraps `send`, buffers a 200
`text/html` body, inserts one `<script>` tag and fixes `content-length`. Anything else
(other types, errors, 304s, ranges, encoded bodies, websockets) passes through untouched.
The tag is chosen when the request arrives and has that length wherever it lands, so a HEAD
response only needs its `content-length` raised, without reading a body it does not have.
The page gets an ETag of its own (`injected_etag`), and the 304s for it.

The tag names what the page was served with (`served_snippet`): a page that connects only
after a change, or a build, was announced learns from the first `hello` that it is stale.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from urllib.parse import quote

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wbspawn.serve.buffered import buffering_send, send_whole
from wbspawn.serve.etag import matches, send_not_modified

RELOAD_SCRIPT = "/_wbspawn/static/reload.js"


def served_snippet(served: str) -> bytes:
    """The tag for a page served in state `served` (the Hub's `served`), which the client
    reads from its own URL and compares with each `hello`. An external module script, never
    inline: the page may have `script-src 'self'`."""
    return f'<script type="module" src="{RELOAD_SCRIPT}?served={quote(served)}"></script>'.encode()


_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)
_BODY_START = re.compile(rb"<body[\s>]", re.IGNORECASE)


def insert_snippet(html: bytes, snippet: bytes) -> bytes:
    """Before `</head>`, else before `<body>`, else at the end (browsers run it there too)."""
    match = _HEAD_END.search(html) or _BODY_START.search(html)
    at = match.start() if match else len(html)
    return html[:at] + snippet + html[at:]


def injected_etag(etag: str, snippet: bytes) -> str:
    """The ETag of a page with `snippet` in it, from the file's own.

    Never the file's own: a Range request of the file gets its raw bytes with that one,
    and a cache that took both for one representation would splice raw bytes into the
    page. Named by the snippet too, so a new reload client is a new page.
    """
    weak = "W/" if etag.startswith("W/") else ""
    tag = etag.removeprefix("W/").strip('"')
    return f'{weak}"{tag}-{hashlib.sha256(snippet).hexdigest()[:8]}"'


class InjectMiddleware:
    def __init__(self, app: ASGIApp, snippet: Callable[[], bytes]) -> None:
        self.app = app
        self.snippet = snippet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        # Before the file is read: a change that lands in between makes the page look older
        # than it is (one needless reload), never newer (a change missed).
        snippet = self.snippet()

        async def inject(start: Message, body: bytes) -> None:
            headers = MutableHeaders(scope=start)
            # Byte ranges of the file would not match the injected body.
            if "accept-ranges" in headers:
                del headers["accept-ranges"]
            # The page changes with the state it names, not only with the file: revalidated
            # by its ETag alone. Starlette before 0.49.2 answered an If-Modified-Since with a
            # 304 even when the ETag differed, and the browser then kept a page naming an old
            # state, which reloads on its first hello, again and again.
            if "last-modified" in headers:
                del headers["last-modified"]
            if "etag" in headers:
                etag = injected_etag(headers["etag"], snippet)
                headers["etag"] = etag
                # The file's server compared the request with the file's own ETag: the
                # page's is compared here.
                if if_none_match is not None and matches(if_none_match, etag):
                    await send_not_modified(send, start)
                    return
            if scope["method"] == "HEAD":
                length = int(headers.get("content-length", "0")) + len(snippet)
            else:
                body = insert_snippet(body, snippet)
                length = len(body)
            headers["content-length"] = str(length)
            await send_whole(send, start, body)

        await self.app(scope, receive, buffering_send(send, _is_plain_html_page, inject))


def _is_plain_html_page(start: Message) -> bool:
    headers = Headers(raw=start.get("headers", []))
    return (
        start["status"] == 200
        and headers.get("content-type", "").lower().startswith("text/html")
        and "content-encoding" not in headers
    )
