"""``GET /api/documents/events``: one job's events (``?jobId=``) or the jobs feed (``?jobs=all``)
as Server-Sent Events, resumable with ``Last-Event-ID`` or ``?lastEventId=``.

An idle stream costs a socket, its asyncio transport and a few small objects of ours. Once
its headers are out, the connection is handed over to the stream's own protocol (``Link``)
and aiohttp forgets it (aiohttp_internals.hand_over): no protocol, parser, request, task or
handler frame of aiohttp's is held for the stream's life. No task of ours either (the pump is a
task only while something is queued, outbox.py), and no keep-alive timer (the hub's one
heartbeat writes every stream's comment, live/beat.py). The stream's slot and count are given
back when the stream ends (``on_end``, api/security.py). The response says ``Connection:
close``: a stream's end is the end of its connection, which no client then reuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from aiohttp import web

from server.appkeys import HANDED_OVER, HUB, SETTINGS
from server.errors import INVALID_JOBS
from server.live.aiohttp_internals import hand_over
from server.live.hub import Hub, Start, Subscription
from server.live.link import EndHooks, Link
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
    "X-Accel-Buffering": "no",
}
END_CHUNK = b"0\r\n\r\n"
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


class SseStream(EndHooks):
    __slots__ = (
        "_pump",
        "_retry",
        "_watchdog",
        "chunked",
        "hub",
        "link",
        "outbox",
        "sub",
        "transport",
    )

    def __init__(self, hub: Hub, chunked: bool, retry: bytes) -> None:
        super().__init__()
        self.hub = hub
        self.link = Link(self)
        self.transport: asyncio.Transport | None = None  # ours once handed over (``open``)
        self.chunked = chunked  # HTTP/1.1; an HTTP/1.0 stream is the raw body
        self.outbox: Outbox[Subscription] = Outbox(
            hub.capacity,
            self._cut,
            max_bytes=hub.backlog_bytes,
            size=sse_size,
            wake=self._wake,
        )
        self.outbox.sink = self._write_now
        # The retry hint rides in the first event's block: alone, a block without data is an
        # empty "message" event to some parsers (browsers drop it, httpx-sse does not).
        self._retry = retry
        self._pump: asyncio.Task[None] | None = None  # only while something is queued
        self._watchdog: asyncio.TimerHandle | None = None
        self.sub: Subscription | None = None

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
        if transport is None or transport.is_closing() or self.link.paused:
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
        elif not self.link.paused:
            transport.write(HEARTBEAT_CHUNK if self.chunked else HEARTBEAT)

    def _wake(self) -> None:
        """Something is queued: a pump, until the outbox is empty again."""
        if self._ended:
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
        if self.link.paused:
            await self.link.drain()

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

    def received(self, data: bytes) -> None:
        """An SSE client has nothing to say once its request is in: ignored."""

    def lost(self) -> None:
        """The connection is gone (the client left, or it was aborted)."""
        self._end(GONE)

    def _finish(self) -> None:
        """The stream's end: it leaves the hub, its last chunk goes out, the connection closes
        (once what is buffered is sent), and what waited on the end runs."""
        if not self._mark_ended():
            return
        hub = self.hub
        self.outbox.close(GONE)
        self.outbox.sink = None
        if self.sub is not None:
            hub.leave(self.sub)
            self.sub = None
        hub.heartbeat.discard(self)
        hub.untrack(self)
        pump = self._pump
        if pump is not None and pump is not asyncio.current_task():
            pump.cancel()  # stuck in a write: the watchdog aborted the connection
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if self.chunked:
                transport.write(END_CHUNK)
            transport.close()
        self._run_end_hooks()

    def open(self, request: web.Request, key: str, start: Start) -> None:
        """The connection handed over to the stream, which joins the hub; or, when the client
        is already gone, the stream's end."""
        transport, _ = hand_over(request, self.link)
        if transport is None:
            self._finish()
            return
        self.transport = transport
        self.outbox.backlog = unsent_bytes(transport)
        set_send_timeout(transport, SEND_TIMEOUT_MS)
        self.sub = Subscription(key, self.outbox, start.last)
        self.hub.track(self)
        self.hub.heartbeat.add(self)
        self.hub.subscribe(self.sub, start)


class HandedOverResponse(web.StreamResponse):
    """What an SSE handler returns once the stream has its connection: aiohttp then finishes
    the request without writing the end of the body, which the stream writes when it ends."""

    async def write_eof(self, data: bytes = b"") -> None:
        pass


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
    resp = HandedOverResponse(headers=HEADERS)
    chunked = request.version >= (1, 1)
    if chunked:
        resp.enable_chunked_encoding()
    resp.force_close()  # "Connection: close": the stream's end is its connection's
    await resp.prepare(request)  # the headers go out now; raw chunks may follow
    stream = SseStream(hub, chunked, retry_line(settings.sse_retry_ms))
    request[HANDED_OVER] = stream
    stream.open(request, key, start)
    return resp
