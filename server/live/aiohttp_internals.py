"""The aiohttp internals the push path and the header sweeper use on purpose, all of them here.

Why: the hub frames each event once (``Delivery.sse``/``Delivery.ws`` in outbox.py) and a page
of frames goes to a connection as one ``transport.write``, the same bytes for every subscriber,
and an idle stream should hold nothing but its socket. aiohttp's public writers would frame and
copy per connection and await per message, and aiohttp would hold its protocol, parser,
request, tasks and handler frames (about 9 KB) for every stream's life. So once a stream's
headers (or its WebSocket handshake) are out, it takes its connection over; the header sweeper
needs a look at the connections aiohttp still holds. Things aiohttp does not promise:

1. ``BaseRequest.transport`` / ``BaseRequest.protocol``: the connection's asyncio transport and
   aiohttp's protocol object (``RequestHandler``).
2. ``StreamResponse._send_headers_immediately``: a ``StreamResponse`` sends its headers in
   ``prepare``, so the connection can be taken over right after it.
3. Handing a connection over (``hand_over``): ``asyncio.Transport.set_protocol`` gives it to a
   protocol of ours (live/link.py); ``RequestHandler.transport = None`` then
   ``RequestHandler.connection_lost(None)`` make aiohttp let go of it as of a client that left
   (it forgets the connection, frees its parser, and, with ``handler_cancellation`` off, as
   aiohttp's default is, leaves the handler to return), without closing it. Bytes a client sent
   behind an upgrade request wait in ``RequestHandler._message_tail``: they go to the new
   protocol.
4. ``WebSocketResponse._post_start``: overridden (live/ws.py) so that aiohttp does the handshake
   and sets up no reader, parser or heartbeat of its own for a socket about to be handed over.
5. ``RequestHandler._request_count``: how many request heads the connection has sent whole
   (it counts up when the parser hands over a complete head, before any handler runs). Zero
   means the peer has sent nothing, or only part of a request line or headers: what the
   header sweeper (server/api/sweeper.py) closes, as aiohttp has no header-read timeout.
   It finds connections with ``Server.connections`` and closes them with
   ``RequestHandler.force_close``: both public names, but barely documented, so fenced too.

tests/unit/test_aiohttp_internals.py checks each by name and the hand-over by behaviour, and
fails saying which one changed; pyproject.toml bounds aiohttp to the versions it has passed.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

# What the test checks, by dotted name (module, then attribute path).
INTERNALS: tuple[str, ...] = (
    "aiohttp.web_request.BaseRequest.transport",
    "aiohttp.web_request.BaseRequest.protocol",
    "aiohttp.web_response.StreamResponse._send_headers_immediately",
    "aiohttp.web_protocol.RequestHandler.connection_lost",
    "aiohttp.web_protocol.RequestHandler._message_tail",
    "aiohttp.web_ws.WebSocketResponse._post_start",
    "aiohttp.web_protocol.RequestHandler._request_count",
    "aiohttp.web_protocol.RequestHandler.force_close",
    "aiohttp.web_server.Server.connections",
)


def request_heads_received(handler: RequestHandler) -> int:
    """Complete request heads the connection has sent (0: none yet, or only part of one)."""
    count: int = handler._request_count
    return count


def hand_over(
    request: web.BaseRequest, protocol: asyncio.BaseProtocol
) -> tuple[asyncio.Transport | None, bytes]:
    """The connection is ``protocol``'s from now on and aiohttp forgets it (3. above): its
    transport (None when the client has already gone) and the bytes the client sent after an
    upgrade request that aiohttp holds unread (``RequestHandler._message_tail``). The handler
    should return at once; aiohttp writes nothing more to the connection and does not close it."""
    handler = request.protocol
    transport = request.transport
    if transport is None or transport.is_closing() or not isinstance(handler, RequestHandler):
        return None, b""
    tail = bytes(handler._message_tail)
    handler._message_tail = b""
    transport.set_protocol(protocol)
    handler.transport = None  # connection_lost would close it (force_close)
    handler.connection_lost(None)
    if not transport.is_reading():
        transport.resume_reading()  # aiohttp pauses it while an upgrade's tail waits
    return transport, tail
