"""Whole-body rewriting for pure ASGI middleware (etag.py, inject.py).

A middleware that must see a response's whole body before sending its head (to hash it, or to
change its length) wraps `send` with `buffering_send`: the start message of each response it
`wants` is held, the body collected, and both handed to `finish` once complete. Responses it
does not want, and every other message, pass through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import Message, Send

Finish = Callable[[Message, bytes], Awaitable[None]]


def buffering_send(send: Send, wants: Callable[[Message], bool], finish: Finish) -> Send:
    start: Message | None = None
    chunks: list[bytes] = []

    async def buffering(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            if wants(message):
                start = message  # held until the body is complete
                return
            await send(message)
            return
        if start is None or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        await finish(start, b"".join(chunks))

    return buffering


async def send_whole(send: Send, start: Message, body: bytes) -> None:
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
