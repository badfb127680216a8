"""uvicorn's HTTP/1.1 (h11) and websocket protocols, with the server's rules where uvicorn
answers on its own, before (or without) the ASGI app and so outside every middleware:

- a request it cannot parse (no Host or two, a bad request line, a head over h11's 16 KiB):
  its 400 carries the headers every response carries (`fixed_headers`), and the connection
  lingers a moment before it closes, reading what the client still sends, so that the
  client reads the 400 instead of a reset;
- a request whose head never completes: closed once `header_timeout` seconds have passed
  since the connection opened or the last response ended (uvicorn has a keep-alive timeout
  only, which the first byte of a request cancels, and none before the first request);
- a body found malformed (bad chunked encoding) while the app answers the request: the 400
  alone; the app's answer is dropped instead of failing in h11 with a logged traceback;
- a websocket text message that is not UTF-8: closed with 1007 and one line in the log, not
  a traceback; refused handshakes (403 for a socket the app closed before accepting, 400 for
  a malformed one, 500) carry the headers too.

Where no answer can be given, none is: a request that times out before its head is complete,
and a malformed body once the app's response has begun, just end the connection.

Subclasses of uvicorn's own (tested with uvicorn 0.55): `protocols()` makes the pair for one
server, for `uvicorn.Config(http=..., ws=...)`.
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Sequence
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Response
from websockets.server import ServerProtocol

# How long a client may take to send a request's head (request line and headers). A browser
# sends one at once; on loopback anything slower is a client that will not finish.
HEADER_TIMEOUT_S = 10.0
# How long a connection refused with a 400 keeps reading before it closes.
LINGER_S = 2.0

Headers = Sequence[tuple[str, str]]


class HttpProtocol(H11Protocol):
    # Set per server by `protocols()`.
    fixed_headers: ClassVar[tuple[tuple[bytes, bytes], ...]] = ()
    header_timeout: ClassVar[float] = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None
        self.lingering = False

    # --- each request's head within header_timeout --------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.await_head()

    def on_response_complete(self) -> None:
        # Before uvicorn's own, which may go on to a pipelined request (and end the wait).
        if not self.transport.is_closing():
            self.await_head()
        super().on_response_complete()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's head arrived
            self.stop_waiting()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self.stop_waiting()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_waiting()
        super().connection_lost(exc)

    def await_head(self) -> None:
        self.stop_waiting()
        self.head_timer = self.loop.call_later(self.header_timeout, self.transport.close)

    def stop_waiting(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    # --- requests h11 cannot parse --------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # the rest of a refused request
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        self.stop_waiting()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # Its body was malformed: the app's answer is not sent (h11 would refuse it).
            cycle.disconnected = True
            cycle.message_event.set()
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            self.transport.close()  # a response has begun: too late for a 400
            return
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"connection", b"close"),
            *self.fixed_headers,
        ]
        events = [
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=msg.encode("ascii")),
            h11.EndOfMessage(),
        ]
        self.transport.write(b"".join(self.conn.send(event) or b"" for event in events))
        self.linger()

    def linger(self) -> None:
        """Close without losing the 400: closing a socket with unread data makes the kernel
        reset the connection, and the client may then never read the answer (a 1 MB head
        gets a reset, not a 400). So: end our side, read and drop the rest for a while."""
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.lingering = True
        self.transport.write_eof()
        self.transport.resume_reading()
        self.loop.call_later(LINGER_S, self.transport.close)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    # Set per server by `protocols()`.
    server_protocol: ClassVar[type[ServerProtocol]] = ServerProtocol

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn builds websockets' ServerProtocol itself; every refusal it sends is made by
        # that object's `reject`, which the subclass gives the fixed headers.
        self.conn.__class__ = self.server_protocol

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                # What uvicorn does, with one line instead of a traceback.
                self.frames = []
                self.logger.warning("Invalid UTF-8 in a websocket text message: closed (1007)")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()


def protocols(
    headers: Headers, header_timeout: float = HEADER_TIMEOUT_S
) -> tuple[type[HttpProtocol], type[WebSocketProtocol]]:
    """The HTTP and websocket protocols of a server whose responses all carry `headers`."""
    encoded = tuple((name.lower().encode("latin-1"), v.encode("latin-1")) for name, v in headers)
    pairs = tuple(headers)
    timeout = header_timeout

    class Rejecting(ServerProtocol):
        def reject(self, status: http.HTTPStatus | int, text: str) -> Response:
            response = super().reject(status, text)
            for name, value in pairs:
                response.headers[name] = value
            return response

    class Http(HttpProtocol):
        fixed_headers = encoded
        header_timeout = timeout

    class WebSocket(WebSocketProtocol):
        server_protocol = Rejecting

    return Http, WebSocket
