"""``GET /api/documents/events``: one job's events (``?jobId=``) or the jobs feed (``?jobs=all``)
as Server-Sent Events, resumable with ``Last-Event-ID`` or ``?lastEventId=``.

An idle stream costs what aiohttp holds for a connection plus a few small objects of ours: no
task (the pump is a task only while something is queued, outbox.py), no keep-alive timer (the
hub's one heartbeat writes every stream's comment, live/beat.py), no middleware frames (the
stream routes are guarded in one frame, api/streamguard.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from aiohttp import web

from server.appkeys import HUB, SETTINGS
from server.errors import INVALID_JOBS
from server.live.aiohttp_internals import drain, protocol_of, transport_of, writing_paused
from server.live.hub import Hub, Start, Subscription
from server.live.outbox import (
    END,
    GONE,
    SHUTDOWN,
    Delivery,
    Item,
    Outbox,
    Page,
    chunk,
    sse_size,
    unsent_bytes,
)
from server.live.wire import parse_event_id
from server.model import JOBS_FEED, check_job_id

# The keep-alive comment, and as a chunk: written as is to every idle stream.
HEARTBEAT = b": ping\n\n"
HEARTBEAT_CHUNK = chunk(HEARTBEAT)
# Data a peer leaves unacknowledged this long and the kernel aborts the connection (Linux): a
# hung peer is found by its keep-alive comments, long before its buffer fills (as aiohttp-sse
# did, whose response this module replaced).
SEND_TIMEOUT_MS = 120_000
_TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", None)
HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}
_RETRY_LINES: dict[int, bytes] = {}


def retry_line(retry_ms: int) -> bytes:
    """One bytes object per value, shared by every stream that has yet to send it."""
    line = _RETRY_LINES.get(retry_ms)
    if line is None:
        line = _RETRY_LINES[retry_ms] = f"retry: {retry_ms}\n".encode()
    return line


def stream_key(query: web.Request) -> str:
    """Which log a request watches: JOBS_FEED for ``jobs=all``, else a checked job id."""
    jobs = query.query.get("jobs")
    if jobs is not None:
        if jobs != "all":
            raise INVALID_JOBS()
        return JOBS_FEED
    return check_job_id(query.query.get("jobId"))


def set_send_timeout(transport: asyncio.Transport, timeout_ms: int) -> None:
    sock = transport.get_extra_info("socket")
    if _TCP_USER_TIMEOUT is None or sock is None:
        return
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_USER_TIMEOUT, timeout_ms)


class SseStream:
    __slots__ = (
        "_done",
        "_pump",
        "_retry",
        "_watchdog",
        "chunked",
        "hub",
        "outbox",
        "protocol",
        "transport",
    )

    def __init__(self, hub: Hub, request: web.Request, chunked: bool, retry: bytes) -> None:
        self.hub = hub
        # Looked up once: the feed and the heartbeat check them for every write.
        self.transport = transport_of(request)
        self.protocol = protocol_of(request)
        self.chunked = chunked  # HTTP/1.1; an HTTP/1.0 stream is the raw body
        self.outbox: Outbox[Subscription] = Outbox(
            hub.capacity,
            self._cut,
            max_bytes=hub.backlog_bytes,
            size=sse_size,
            backlog=unsent_bytes(self.transport),
            wake=self._wake,
        )
        self.outbox.sink = self._write_now
        # The retry hint rides in the first event's block: alone, a block without data is an
        # empty "message" event to some parsers (browsers drop it, httpx-sse does not).
        self._retry = retry
        self._pump: asyncio.Task[None] | None = None  # only while something is queued
        self._watchdog: asyncio.TimerHandle | None = None
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- writing ----------------------------------------------------------------------------

    def _frame(self, data: bytes) -> bytes:
        if self._retry:
            data = self._retry + data
            self._retry = b""
        return chunk(data) if self.chunked else data

    def _write_now(self, sub: Subscription, page: Page) -> bool:
        """The outbox's sink: the page as one chunk, straight to the transport, while the peer
        keeps up (nothing queued, no pump: nothing can be overtaken)."""
        transport = self.transport
        if transport is None or transport.is_closing() or writing_paused(self.protocol):
            return False
        if self.chunked and not self._retry:
            transport.write(page.sse_chunk())  # the same bytes for every stream
        else:
            transport.write(self._frame(page.sse()))
        self.hub.note_delivered("sse", len(page.deliveries))
        return True

    def beat(self) -> None:
        """The hub's heartbeat: a comment to a stream that keeps up, and a stream whose client
        left (its transport closed: the only sign while the job is quiet) ends."""
        transport = self.transport
        if transport is None or transport.is_closing():
            self._end(GONE)
        elif not writing_paused(self.protocol):
            transport.write(HEARTBEAT_CHUNK if self.chunked else HEARTBEAT)

    def _wake(self) -> None:
        """Something is queued: a pump, until the outbox is empty again."""
        if self._done.done():
            return
        self.outbox.pumping = True
        self._pump = asyncio.create_task(self._pumping())

    async def _pumping(self) -> None:
        # Whatever is queued when the pump comes round goes out as one write (one chunk, one
        # syscall): under fan-out a busy stream's cost per event falls as its backlog grows.
        outbox = self.outbox
        try:
            while items := outbox.take_ready():
                data, count, last = frames_of(items)
                if count:
                    await self._send(data, count)
                if last:
                    self._finish()
                    return
        except ConnectionError:
            outbox.close(GONE)  # the client left; it resumes by id
        finally:
            outbox.pumping = False
            self._pump = None
            if outbox.closed is not None:
                self._finish()

    async def _send(self, data: bytes, count: int) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("stream closing")
        transport.write(self._frame(data))
        self.hub.note_delivered("sse", count)
        if writing_paused(self.protocol):
            await drain(self.protocol)

    # --- ending -----------------------------------------------------------------------------

    def _cut(self) -> None:
        """Too slow: the outbox is closed, so the stream ends once the write in progress is
        through. The EventSource then reconnects with Last-Event-ID."""
        self.hub.note_cut("sse")
        self._settle()

    async def shutdown(self) -> None:
        self._end(SHUTDOWN)

    def _end(self, reason: str) -> None:
        self.outbox.close(reason)
        self._settle()

    def _settle(self) -> None:
        """The outbox is closed: end now, or once the write in progress is through. A pump
        stuck in a write waits for a peer that may never read again: it gets the hub's
        ``close_timeout_s``, then the connection is aborted."""
        if self._pump is None:
            self._finish()
        elif self._watchdog is None:
            loop = asyncio.get_running_loop()
            self._watchdog = loop.call_later(self.hub.close_timeout_s, self._abort)

    def _abort(self) -> None:
        self._watchdog = None
        if self.transport is not None:
            self.transport.abort()

    def _finish(self) -> None:
        if not self._done.done():
            self._done.set_result(None)

    def open(self, key: str, start: Start) -> Subscription | None:
        """Join the hub; None when the client is already gone. The handler then awaits
        ``done`` itself (one frame fewer held per stream) and calls ``close``."""
        transport = self.transport
        if transport is None or transport.is_closing():
            self.outbox.close(GONE)
            return None
        set_send_timeout(transport, SEND_TIMEOUT_MS)
        sub = Subscription(key, self.outbox, start.last)
        self.hub.track(self)
        self.hub.heartbeat.add(self)
        self.hub.subscribe(sub, start)
        return sub

    @property
    def done(self) -> asyncio.Future[None]:
        return self._done

    async def close(self, sub: Subscription) -> None:
        hub = self.hub
        self.outbox.close(GONE)
        self.outbox.sink = None
        hub.leave(sub)
        hub.heartbeat.discard(self)
        hub.untrack(self)
        pump = self._pump
        if pump is not None:
            pump.cancel()  # only when the handler itself was cancelled
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        if self._watchdog is not None:
            self._watchdog.cancel()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            set_send_timeout(transport, 0)  # the connection may serve other requests


def frames_of(items: list[Item[Subscription]]) -> tuple[bytes, int, bool]:
    """What a pump writes for ``items``: their frames joined, how many, and whether the
    stream ends with them."""
    frames = []
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
    data = frames[0] if len(frames) == 1 else b"".join(frames)
    return data, len(frames), last


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
    resp = web.StreamResponse(headers=HEADERS)
    chunked = request.version >= (1, 1)
    if chunked:
        resp.enable_chunked_encoding()
    await resp.prepare(request)  # the headers go out now; raw chunks may follow
    stream = SseStream(hub, request, chunked, retry_line(settings.sse_retry_ms))
    sub = stream.open(key, start)
    if sub is not None:
        try:
            await stream.done
        finally:
            await stream.close(sub)
    return resp
