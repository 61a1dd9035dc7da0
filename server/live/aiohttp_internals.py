"""The aiohttp internals the push path and the header sweeper use on purpose, all of them here.

Why: the hub frames each event once (``Delivery.sse``/``Delivery.ws`` in outbox.py) and a page
of frames goes to a connection as one ``transport.write``, the same bytes for every subscriber.
aiohttp's public writers would frame and copy per connection and await per message, the cost
fan-out cannot pay. That takes four things aiohttp does not promise; the header sweeper takes
a fifth, and an SSE stream's hand-over a sixth:

1. ``BaseRequest.transport`` / ``BaseRequest.protocol``: the connection's asyncio transport and
   aiohttp's protocol object, to write to directly.
2. ``BaseProtocol.writing_paused``: set by the transport's flow control (``pause_writing``);
   while it is set the peer is not keeping up and a page must wait in the outbox.
3. ``BaseProtocol._drain_helper()``: aiohttp's own wait for the transport to drain, as its
   WebSocket writer does after each frame.
4. Write-through writers: ``StreamResponse.write`` (chunked, for SSE) and the WebSocket writer
   hand their bytes to the transport before returning, with no buffer of their own, so raw
   writes after them arrive after them. An SSE response is chunked, so a raw write is a chunk;
   a ``StreamResponse`` sends its headers in ``prepare``, so raw chunks may follow at once.
5. ``RequestHandler._request_count``: how many request heads the connection has sent whole
   (it counts up when the parser hands over a complete head, before any handler runs). Zero
   means the peer has sent nothing, or only part of a request line or headers: what the
   header sweeper (server/api/sweeper.py) closes, as aiohttp has no header-read timeout.
   It finds connections with ``Server.connections`` and closes them with
   ``RequestHandler.force_close``: both public names, but barely documented, so fenced too.

6. Handing a connection over (``hand_over``): an SSE stream, once its headers are out, needs
   nothing more of aiohttp, yet aiohttp would hold its protocol, parser, request, tasks and
   handler frames (about 9 KB) for the stream's life. ``asyncio.Transport.set_protocol`` gives
   the connection to a protocol of ours; ``RequestHandler.transport = None`` then
   ``RequestHandler.connection_lost(None)`` make aiohttp let go of it as of a client that left
   (it forgets the connection, frees its parser, and, with ``handler_cancellation`` off, as
   aiohttp's default is, leaves the handler to return), without closing it. A WebSocket is
   handed over right after its handshake: ``WebSocketResponse._post_start`` is overridden so
   that aiohttp sets up no reader, parser or heartbeat of its own, and whatever the client sent
   behind its upgrade request (``RequestHandler._message_tail``) goes to the new protocol.

tests/unit/test_aiohttp_internals.py checks each by name and fails saying which one changed;
pyproject.toml bounds aiohttp to the versions that test has passed.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.web_protocol import RequestHandler

# What the test checks, by dotted name (module, then attribute path).
INTERNALS: tuple[str, ...] = (
    "aiohttp.web_request.BaseRequest.transport",
    "aiohttp.web_request.BaseRequest.protocol",
    "aiohttp.base_protocol.BaseProtocol.writing_paused",
    "aiohttp.base_protocol.BaseProtocol._drain_helper",
    "aiohttp.web_response.StreamResponse._send_headers_immediately",
    "aiohttp.web_protocol.RequestHandler._request_count",
    "aiohttp.web_protocol.RequestHandler.force_close",
    "aiohttp.web_server.Server.connections",
    "aiohttp.web_protocol.RequestHandler.connection_lost",
    "aiohttp.web_protocol.RequestHandler._message_tail",
    "aiohttp.web_ws.WebSocketResponse._post_start",
)


def transport_of(request: web.BaseRequest) -> asyncio.Transport | None:
    """The connection's transport (None once it is closed)."""
    return request.transport


def protocol_of(request: web.BaseRequest) -> BaseProtocol:
    return request.protocol


def writing_paused(protocol: BaseProtocol) -> bool:
    """The transport's buffer is over its high-water mark: the peer is not keeping up."""
    return protocol.writing_paused


async def drain(protocol: BaseProtocol) -> None:
    """Wait until the transport's buffer is back under its low-water mark."""
    await protocol._drain_helper()


def request_heads_received(handler: RequestHandler) -> int:
    """Complete request heads the connection has sent (0: none yet, or only part of one)."""
    count: int = handler._request_count
    return count


def hand_over(
    request: web.BaseRequest, protocol: asyncio.BaseProtocol
) -> tuple[asyncio.Transport | None, bytes]:
    """The connection is ``protocol``'s from now on and aiohttp forgets it (6. above): its
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
