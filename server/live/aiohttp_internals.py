"""The aiohttp (and aiohttp-sse) internals the push path and the header sweeper use on purpose,
all of them here.

Why: the hub frames each event once (``Delivery.sse``/``Delivery.ws`` in outbox.py) and a page
of frames goes to a connection as one ``transport.write``, the same bytes for every subscriber.
aiohttp's public writers would frame and copy per connection and await per message, the cost
fan-out cannot pay. That takes five things aiohttp does not promise; the header sweeper takes
a sixth:

1. ``BaseRequest.transport`` / ``BaseRequest.protocol``: the connection's asyncio transport and
   aiohttp's protocol object, to write to directly.
2. ``BaseProtocol.writing_paused``: set by the transport's flow control (``pause_writing``);
   while it is set the peer is not keeping up and a page must wait in the outbox.
3. ``BaseProtocol._drain_helper()``: aiohttp's own wait for the transport to drain, as its
   WebSocket writer does after each frame.
4. Write-through writers: ``StreamResponse.write`` (chunked, for SSE) and the WebSocket writer
   hand their bytes to the transport before returning, with no buffer of their own, so raw
   writes after them arrive after them. An SSE response is chunked, so a raw write is a chunk.
5. aiohttp-sse's ``EventSourceResponse._ping``: its keep-alive task, whose end is the only
   sign of a client that left while a job is quiet.
6. ``RequestHandler._request_count``: how many request heads the connection has sent whole
   (it counts up when the parser hands over a complete head, before any handler runs). Zero
   means the peer has sent nothing, or only part of a request line or headers: what the
   header sweeper (server/api/sweeper.py) closes, as aiohttp has no header-read timeout.
   It finds connections with ``Server.connections`` and closes them with
   ``RequestHandler.force_close``: both public names, but barely documented, so fenced too.

tests/unit/test_aiohttp_internals.py checks each by name and fails saying which one changed;
pyproject.toml bounds aiohttp (and aiohttp-sse) to the versions that test has passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.web_protocol import RequestHandler
from aiohttp_sse import EventSourceResponse

# What the test checks, by dotted name (module, then attribute path).
INTERNALS: tuple[str, ...] = (
    "aiohttp.web_request.BaseRequest.transport",
    "aiohttp.web_request.BaseRequest.protocol",
    "aiohttp.base_protocol.BaseProtocol.writing_paused",
    "aiohttp.base_protocol.BaseProtocol._drain_helper",
    "aiohttp_sse.EventSourceResponse._ping",
    "aiohttp.web_protocol.RequestHandler._request_count",
    "aiohttp.web_protocol.RequestHandler.force_close",
    "aiohttp.web_server.Server.connections",
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


class EventStream(EventSourceResponse):
    """aiohttp-sse's response, saying when its ping task ends: a ping write failed (the only
    sign of a client that left while the job is quiet), or the stream was stopped. A callback
    rather than a task of ours waiting on it: an idle stream holds one task fewer."""

    on_end: Callable[[], None] | None = None

    async def _ping(self) -> None:
        try:
            await super()._ping()
        finally:
            if self.on_end is not None:
                self.on_end()
