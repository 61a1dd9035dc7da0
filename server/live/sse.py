"""``GET /api/documents/events``: one job's events (``?jobId=``) or the jobs feed (``?jobs=all``)
as Server-Sent Events, resumable with ``Last-Event-ID`` or ``?lastEventId=``."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp_sse import sse_response

from server.appkeys import HUB, SETTINGS
from server.errors import INVALID_JOBS
from server.live.aiohttp_internals import (
    EventStream,
    protocol_of,
    transport_of,
    writing_paused,
)
from server.live.hub import Hub, Start, Subscription, parse_event_id
from server.live.outbox import (
    END,
    GONE,
    SHUTDOWN,
    Delivery,
    Outbox,
    Page,
    sse_size,
    unsent_bytes,
)
from server.model import JOBS_FEED, check_job_id


def stream_key(query: web.Request) -> str:
    """Which log a request watches: JOBS_FEED for ``jobs=all``, else a checked job id."""
    jobs = query.query.get("jobs")
    if jobs is not None:
        if jobs != "all":
            raise INVALID_JOBS()
        return JOBS_FEED
    return check_job_id(query.query.get("jobId"))


class SseStream:
    __slots__ = (
        "_pumped",
        "_watchdog",
        "hub",
        "outbox",
        "protocol",
        "request",
        "resp",
        "sending",
        "transport",
    )

    def __init__(self, hub: Hub, request: web.Request, resp: EventStream) -> None:
        self.hub = hub
        self.request = request
        self.resp = resp
        # Looked up once: the feed checks them for every page it hands over.
        self.transport = transport_of(request)
        self.protocol = protocol_of(request)
        self.outbox: Outbox[Subscription] = Outbox(
            hub.capacity,
            self._cut,
            max_bytes=hub.backlog_bytes,
            size=sse_size,
            backlog=unsent_bytes(self.transport),
        )
        self.sending = False
        self._pumped: asyncio.Future[None] | None = None  # made only for a watchdog
        self._watchdog: asyncio.Task[None] | None = None

    def _cut(self) -> None:
        """Too slow: the outbox is closed, so the stream ends once the write in progress is
        through. The EventSource then reconnects with Last-Event-ID."""
        self.hub.note_cut("sse")
        self._end_soon()

    def _write_now(self, sub: Subscription, page: Page) -> bool:
        """The outbox's sink, once the stream has started (its headers and first chunk are
        out): the page as one chunk, straight to the transport, while the peer keeps up."""
        transport = self.transport
        if transport is None or transport.is_closing() or writing_paused(self.protocol):
            return False
        transport.write(page.sse_chunk())
        self.hub.note_delivered("sse", len(page.deliveries))
        return True

    async def shutdown(self) -> None:
        self.outbox.close(SHUTDOWN)
        self.resp.stop_streaming()
        self._end_soon()

    def _end_soon(self) -> None:
        """A pump stuck in a write waits for a peer that may never read again: give it
        ``close_timeout_s``, then abort the connection."""
        if self.sending and self._watchdog is None:
            self._pumped = asyncio.get_running_loop().create_future()
            self._watchdog = asyncio.create_task(self._abort_unless_pumped(self._pumped))

    async def _abort_unless_pumped(self, pumped: asyncio.Future[None]) -> None:
        try:
            await asyncio.wait_for(pumped, self.hub.close_timeout_s)
        except TimeoutError:
            transport = transport_of(self.request)
            if transport is not None:
                transport.abort()

    async def run(self, key: str, start: Start, retry_ms: int) -> None:
        sub = Subscription(key, self.outbox, start.last)
        outbox = self.outbox
        self.resp.on_end = lambda: outbox.close(GONE)
        if not self.resp.is_connected():
            outbox.close(GONE)  # its ping task ended before we could listen
        self.hub.track(self)
        try:
            self.hub.subscribe(sub, start)
            await self._pump(f"retry: {retry_ms}\n".encode())
        except ConnectionError:
            pass  # the client left; it resumes by id
        finally:
            self.outbox.sink = None
            if self._pumped is not None and not self._pumped.done():
                self._pumped.set_result(None)
            self.hub.leave(sub)
            self.hub.untrack(self)
            if self._watchdog is not None:
                await self._watchdog

    async def _pump(self, retry: bytes) -> None:
        # The retry hint rides in the first event's block: alone, a block without data is an
        # empty "message" event to some parsers (browsers drop it, httpx-sse does not).
        # Whatever is queued when the pump comes round goes out as one write (one chunk, one
        # syscall): under fan-out a busy stream's cost per event falls as its backlog grows.
        frames = [retry] if retry else []
        while (items := await self.outbox.take_all()) is not None:
            last = False
            for _, delivery in items:
                if delivery.type == END:
                    if delivery.json:
                        # Not "error": EventSource would hand it to onerror, the handler of
                        # connection failures.
                        frames.append(Delivery(None, "stream_error", delivery.json).sse())
                    last = True
                    break
                frames.append(delivery.sse())
                if delivery.final:
                    last = True
                    break
            count = len(frames) - (1 if retry else 0)
            if count:
                data = frames[0] if len(frames) == 1 else b"".join(frames)
                frames.clear()
                retry = b""
                self.sending = True
                try:
                    await self.resp.write(data)
                    self.hub.note_delivered("sse", count)
                finally:
                    self.sending = False
                # Started: from now on the feed may write pages itself while we wait (as raw
                # chunks: never on an HTTP/1.0 stream, which is not chunked).
                if self.resp.chunked:
                    self.outbox.sink = self._write_now
            if last:
                return


async def stream_events(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    settings = request.app[SETTINGS]
    key = stream_key(request)
    # The header wins: a reconnecting EventSource sends it, and the URL's lastEventId is then
    # the stale one the stream was first opened with.
    resume = parse_event_id(
        request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
    )
    start = await hub.open(key, resume)  # 404/400 as JSON, before the stream starts
    async with sse_response(
        request, sep="\n", ping_interval=settings.heartbeat_s, response_cls=EventStream
    ) as resp:
        await SseStream(hub, request, resp).run(key, start, settings.sse_retry_ms)
    return resp
