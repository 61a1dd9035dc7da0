"""Closing connections that never send a whole request head (``--header-timeout-s``).

aiohttp has no header-read timeout. Its keep-alive timer is armed when a connection opens (3.14
does), so a socket that sends nothing, or half a request line, is closed after
``keepalive_timeout`` (75 s under ``doccount serve``): a thousand such sockets, opened faster
than that, still hold a thousand file descriptors (issue 12, finding 9). The sweeper looks at
the server's connections every second (or a quarter of the timeout, if that is less) and
closes those that have not sent a complete request head within the timeout, whatever they
sent before it.

Only a connection's first request is its business. Between requests, a keep-alive connection
(a whole request served, nothing new started) is aiohttp's keep-alive timer's: it is re-armed
after each response and not moved by a partial next request, so half a second request is
closed at ``keepalive_timeout`` too. A long-lived SSE or WebSocket stream has sent its head and
is never touched.

Past ``--max-connections`` open connections, the header-less ones are closed without waiting
for the timeout (those waiting longest first, none seen for less than a second), so idle
sockets cannot take the file descriptors the probes and real requests need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from server.aio import cancel_and_wait
from server.live.aiohttp_internals import request_heads_received

log = logging.getLogger("doccount")

MAX_SWEEP_INTERVAL_S = 1.0
# Past the cap, how long a connection must have been seen header-less before it is closed: one
# just accepted has its request head in flight, or not yet read by a busy loop.
OVER_CAPACITY_GRACE_S = 1.0
# Reasons a connection was closed, as /metrics labels them.
NO_REQUEST_HEAD = "no_request_head"
OVER_CAPACITY = "over_capacity"


class HeaderSweeper:
    """Closes header-less connections of ``server``: past ``timeout_s``, or at once beyond
    ``max_connections`` open connections, counting those aiohttp no longer knows of (the SSE
    streams handed their connections, ``handed_over()``). ``on_closed(reason, n)`` counts
    them."""

    def __init__(
        self,
        server: web.Server,
        timeout_s: float,
        max_connections: int,
        on_closed: Callable[[str, int], None] = lambda reason, n: None,
        clock: Callable[[], float] = time.monotonic,
        handed_over: Callable[[], int] = lambda: 0,
    ) -> None:
        self.server = server
        self.handed_over = handed_over
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.on_closed = on_closed
        self.clock = clock
        # Header-less connections by when a sweep first saw them so: a connection is at most
        # one interval older than that, and is closed by the first sweep past the timeout, so
        # it lives at most timeout + 2 intervals.
        self.waiting_since: dict[RequestHandler, float] = {}

    @property
    def interval_s(self) -> float:
        return min(MAX_SWEEP_INTERVAL_S, self.timeout_s / 4)

    def sweep(self) -> dict[str, int]:
        """One look at every connection; returns how many were closed, by reason."""
        now = self.clock()
        connections = self.server.connections
        waiting: dict[RequestHandler, float] = {}
        for handler in connections:
            if request_heads_received(handler) == 0:
                waiting[handler] = self.waiting_since.get(handler, now)
        closed = {NO_REQUEST_HEAD: 0, OVER_CAPACITY: 0}
        for handler, since in list(waiting.items()):
            if now - since >= self.timeout_s:
                handler.force_close()
                del waiting[handler]
                closed[NO_REQUEST_HEAD] += 1
        excess = (
            len(connections) + self.handed_over() - closed[NO_REQUEST_HEAD] - self.max_connections
        )
        if excess > 0:
            due = now - OVER_CAPACITY_GRACE_S
            idle = [h for h, since in waiting.items() if since <= due]
            idle.sort(key=waiting.__getitem__)
            for handler in idle[:excess]:
                handler.force_close()
                del waiting[handler]
                closed[OVER_CAPACITY] += 1
        self.waiting_since = waiting
        for reason, n in closed.items():
            if n:
                self.on_closed(reason, n)
        return closed

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.sweep()
            except Exception:  # one bad sweep must not end the sweeping
                log.exception("header sweep failed")


@contextlib.asynccontextmanager
async def sweeping(sweeper: HeaderSweeper | None) -> AsyncIterator[None]:
    """The sweeper's task for the life of the block (none when the timeout is 0)."""
    if sweeper is None or sweeper.timeout_s <= 0:
        yield
        return
    task = asyncio.create_task(sweeper.run(), name="header-sweeper")
    try:
        yield
    finally:
        await cancel_and_wait([task])
