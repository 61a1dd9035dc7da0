"""``GET /api/documents/ws``: one WebSocket carrying any number of jobs (and the jobs feed).

Client frames: ``{"type": "subscribe", "jobId": ..., "lastEventId"?: ...}``,
``{"type": "subscribe", "jobs": "all"}`` and the matching ``unsubscribe``. Server frames: the
event JSON exactly as SSE sends it, and ``{"type": "error", "code", "message", "jobId"?}`` for a
frame we cannot serve (the socket stays open).

After aiohttp's handshake the socket is handed over (aiohttp_internals.hand_over): it reads its
client's frames itself (wsframes.py), answers pings, pings on the hub's one heartbeat timer
(beat.py; a peer that answers nothing for a whole period is aborted, as aiohttp's heartbeat
did), and closes with a close frame that the client answers, or is aborted after the hub's
``close_timeout_s``. An idle socket holds no task, no frame and none of aiohttp's connection
state: the socket, its transport and a few objects of ours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.web_request import BaseRequest

from server.appkeys import HANDED_OVER, HUB, SETTINGS, STREAM_SCOPE
from server.codec import loads
from server.errors import (
    BINARY_FRAME,
    INTERNAL_ERROR,
    INVALID_FRAME,
    INVALID_JOBS_FRAME,
    INVALID_JSON_FRAME,
    NOT_SUBSCRIBED,
    SHUTTING_DOWN,
    STORE_UNAVAILABLE_FRAME,
    STREAM_TOKEN_SCOPE,
    TOO_MANY_FRAMES,
    TOO_MANY_SUBSCRIPTIONS,
    UNKNOWN_TYPE,
    ApiError,
    StoreUnavailableError,
)
from server.live.aiohttp_internals import hand_over
from server.live.hub import Hub, Subscription
from server.live.link import EndHooks, Link
from server.live.outbox import GONE, SHUTDOWN, Delivery, Outbox, Page, unsent_bytes, ws_size
from server.live.wire import error_json, parse_event_id
from server.live.wsframes import (
    BINARY,
    CLOSE,
    PING,
    PING_FRAME,
    PONG,
    TEXT,
    FrameError,
    FrameReader,
    close_frame,
    frame,
)
from server.model import JOBS_FEED, check_job_id

log = logging.getLogger("doccount.ws")

# Close codes. A consumer too slow for its queue gets 4008 (private range, after 1008 "policy")
# once it has read what was already on its way; it resumes by id. One that does not read that
# far within the hub's close_timeout_s is aborted (a close frame could never reach it).
SLOW_CONSUMER = 4008
SLOW_CONSUMER_REASON = b"slow consumer"
GOING_AWAY_REASON = b"server shutdown"
# Frames at least this long (a snapshot) go deflated on a socket that negotiated it.
WS_DEFLATE_MIN_CHARS = 1024
# Client frames a socket may send at once before the per-second rate applies: each subscribe
# may load a whole job from the store, so a socket must not be able to ask for thousands.
FRAME_BURST = 20.0
# A client's close code we answer with its own (RFC 6455 7.4.1); anything else gets 1000.
ECHOED_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011})


class FrameRate:
    """A token bucket over a socket's client frames: FRAME_BURST at once, then ``per_s``."""

    __slots__ = ("at", "per_s", "tokens")

    def __init__(self, per_s: float, now: float) -> None:
        self.per_s = per_s
        self.tokens = FRAME_BURST
        self.at = now

    def allow(self, now: float) -> bool:
        self.tokens = min(FRAME_BURST, self.tokens + (now - self.at) * self.per_s)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class HandshakeOnly(web.WebSocketResponse):
    """aiohttp's handshake (checks, 101, permessage-deflate negotiated), and nothing after it:
    no reader, parser or heartbeat of aiohttp's, for the socket is handed over (``open``)."""

    def _post_start(self, request: BaseRequest, protocol: str | None, writer: Any) -> None:
        pass

    async def write_eof(self, data: bytes = b"") -> None:
        pass  # the socket is ours: aiohttp must not end it


class WsConnection(EndHooks):
    __slots__ = (
        "_closing",
        "_inbox",
        "_pong_due",
        "_pump",
        "_reading",
        "_watchdog",
        "deflate",
        "frame_rate",
        "frames",
        "hub",
        "link",
        "max_subscriptions",
        "outbox",
        "scope",
        "subs",
        "transport",
    )

    def __init__(self, hub: Hub, request: web.Request, deflate: bool) -> None:
        super().__init__()
        settings = request.app[SETTINGS]
        self.hub = hub
        # permessage-deflate negotiated (only offered with --ws-deflate): big frames (a
        # snapshot) go deflated; live events stay plain, the same bytes for every socket.
        self.deflate = deflate
        self.scope = request.get(STREAM_SCOPE)  # a stream token's socket watches one job
        self.max_subscriptions = settings.max_streams_per_client
        # aiohttp refused a message of max_msg_size bytes already: the limit is "over" it.
        self.frames = FrameReader(settings.max_ws_message_bytes + 1, deflate)
        self.link = Link(self)
        self.transport: asyncio.Transport | None = None  # ours once handed over (``open``)
        self.outbox: Outbox[Subscription] = Outbox(
            hub.capacity,
            self._cut,
            max_bytes=hub.backlog_bytes,
            size=ws_size,
            wake=self._wake,
        )
        self.frame_rate = FrameRate(settings.ws_frames_per_s, time.monotonic())
        self.outbox.sink = self._write_now
        self.subs: dict[str, Subscription] = {}
        # Client text frames not yet handled, in order; a task reads them only while any wait.
        self._inbox: deque[str | None] = deque()
        self._reading: asyncio.Task[None] | None = None
        # A task only while something is queued: an idle socket holds no task at all.
        self._pump: asyncio.Task[None] | None = None
        self._closing = False  # our close frame is out
        self._watchdog: asyncio.TimerHandle | None = None
        self._pong_due = False

    # --- the connection -----------------------------------------------------------------------

    def open(self, request: web.Request) -> None:
        """The socket handed over (right after the 101): it joins the hub's streams and its
        heartbeat, and reads whatever the client sent behind its upgrade request."""
        transport, tail = hand_over(request, self.link)
        if transport is None:
            self._finish()
            return
        self.transport = transport
        self.outbox.backlog = unsent_bytes(transport)
        self.hub.track(self)
        self.hub.heartbeat.add(self)
        if tail:
            self.received(tail)

    def received(self, data: bytes) -> None:
        self._pong_due = False  # any frame shows the peer alive, as aiohttp's heartbeat took it
        if self._ended:
            return
        try:
            messages = self.frames.feed(data)
        except FrameError as exc:
            log.info("websocket closed: %s", exc)
            self._close_soon(exc.code, str(exc).encode())
            return
        for opcode, payload in messages:
            if opcode == TEXT:
                assert isinstance(payload, str)
                self._handle(payload)
                continue
            assert isinstance(payload, bytes)
            if opcode == BINARY:
                self._handle(None)
            elif opcode == PING:
                self._send_control(frame(PONG, payload))
            elif opcode == CLOSE:
                self._client_closed(payload)
                return

    def _handle(self, text: str | None) -> None:
        """Client frames are handled one at a time, in order (a subscribe may wait on the
        store); None stands for a binary frame."""
        if self._closing:
            return
        self._inbox.append(text)
        if self._reading is None:
            self._reading = asyncio.create_task(self._read_inbox())

    async def _read_inbox(self) -> None:
        try:
            while self._inbox and not self._closing:
                text = self._inbox.popleft()
                if text is None:
                    self._error(BINARY_FRAME())
                else:
                    await self._on_text(text)
        finally:
            self._reading = None

    def beat(self) -> None:
        """The hub's heartbeat: a ping; a peer that answered nothing since the last one (a
        whole period) is gone, and its connection is aborted, as aiohttp's heartbeat did."""
        transport = self.transport
        if transport is None or transport.is_closing():
            self._finish()
        elif self._pong_due:
            transport.abort()
        elif not self._closing:
            self._pong_due = True
            if not self.link.paused:
                transport.write(PING_FRAME)

    def _send_control(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing() and not self._closing:
            transport.write(data)

    def lost(self) -> None:
        self._finish()

    # --- closing ----------------------------------------------------------------------------

    def _cut(self) -> None:
        self.hub.note_cut("ws")
        self._close_soon(SLOW_CONSUMER, SLOW_CONSUMER_REASON)

    async def shutdown(self) -> None:
        self.outbox.close(SHUTDOWN)
        self._close_soon(WSCloseCode.GOING_AWAY, GOING_AWAY_REASON)
        if not self._ended:
            ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.on_end(lambda: None if ended.done() else ended.set_result(None))
            await ended

    def _close_soon(self, code: int, reason: bytes) -> None:
        """Our close frame, after what is already on its way; the client's close answer then
        ends the connection, or, when none comes within the hub's close_timeout_s (a close
        frame stuck behind a full buffer, a peer gone quiet), it is aborted."""
        if self._closing or self._ended:
            return
        self._closing = True
        self.outbox.close(GONE)
        transport = self.transport
        if transport is None or transport.is_closing():
            self._finish()
            return
        transport.write(close_frame(code, reason))
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(self.hub.close_timeout_s, self._abort)

    def _client_closed(self, payload: bytes) -> None:
        """The client's close frame: answered with its code (if we have not closed first),
        then the connection ends."""
        transport = self.transport
        if not self._closing and transport is not None and not transport.is_closing():
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000
            transport.write(close_frame(code if code in ECHOED_CODES else 1000))
        if transport is not None:
            transport.close()
        self._finish()

    def _abort(self) -> None:
        self._watchdog = None
        if self.transport is not None:
            self.transport.abort()

    def _finish(self) -> None:
        if not self._mark_ended():
            return
        for sub in self.subs.values():
            self.hub.leave(sub)
        self.subs.clear()
        self.outbox.close(GONE)
        self.outbox.sink = None
        self.hub.untrack(self)
        self.hub.heartbeat.discard(self)
        self._inbox.clear()
        for task in (self._pump, self._reading):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()
        self._run_end_hooks()

    # --- writing ----------------------------------------------------------------------------

    def _wake(self) -> None:
        """Something is queued: a pump, until the outbox is empty again."""
        if self._ended:
            return
        self.outbox.pumping = True
        self._pump = asyncio.create_task(self._pumping())

    async def _pumping(self) -> None:
        outbox = self.outbox
        try:
            while items := outbox.take_ready():
                frames = []
                for sub, delivery in items:
                    if sub is not None and self.subs.get(sub.key) is not sub:
                        continue  # unsubscribed (or replaced) since this was queued
                    if delivery.json:
                        frames.append(
                            delivery.ws_deflated()
                            if self.deflate and len(delivery.json) >= WS_DEFLATE_MIN_CHARS
                            else delivery.ws()
                        )
                    if sub is not None and delivery.final:
                        # A job's subscription ends with its terminal status; the socket stays.
                        del self.subs[sub.key]
                        self.hub.leave(sub)
                if frames:
                    await self._write(frames[0] if len(frames) == 1 else b"".join(frames))
                    self.hub.note_delivered("ws", len(frames))
        except ConnectionError:
            pass  # the socket's end is seen by the link
        finally:
            outbox.pumping = False
            self._pump = None

    def _write_now(self, sub: Subscription, page: Page) -> bool:
        """The outbox's sink: the page's frames straight to the transport, while the peer keeps
        up (the pump is waiting, nothing is queued, so nothing can be overtaken)."""
        transport = self.transport
        if (
            transport is None
            or transport.is_closing()
            or self._closing
            or self.link.paused
            or self.subs.get(sub.key) is not sub
        ):
            return False
        transport.write(page.ws())
        self.hub.note_delivered("ws", len(page.deliveries))
        return True

    async def _write(self, data: bytes) -> None:
        """Whole frames, framed once per event for every socket (``Delivery.ws``), all that
        was queued in one write; then wait while the peer's buffer is over the high-water mark.
        Nothing goes after our close frame."""
        transport = self.transport
        if self._closing or transport is None or transport.is_closing():
            raise ConnectionResetError("websocket closing")
        transport.write(data)
        if self.link.paused:
            await self.link.drain()

    # --- client frames ----------------------------------------------------------------------

    def _error(self, error: ApiError, key: str | None = None) -> None:
        job_id = key if key is not None and key != JOBS_FEED else None
        self.outbox.offer(None, Delivery(None, "error", error_json(error, job_id)))

    async def _on_text(self, text: str) -> None:
        if not self.frame_rate.allow(time.monotonic()):
            self._error(TOO_MANY_FRAMES(rate=self.frame_rate.per_s))
            return
        try:
            frame = loads(text)
        except ValueError:
            self._error(INVALID_JSON_FRAME())
            return
        if not isinstance(frame, dict):
            self._error(INVALID_FRAME())
            return
        kind = frame.get("type")
        if kind not in ("subscribe", "unsubscribe"):
            self._error(UNKNOWN_TYPE())
            return
        key: str | None = None
        try:
            key = self._target(frame)
            if kind == "subscribe":
                await self._subscribe(key, parse_event_id(frame.get("lastEventId")))
            else:
                self._unsubscribe(key)
        except ApiError as exc:
            if key is None and isinstance(frame.get("jobId"), str):
                key = frame["jobId"]
            self._error(exc, key)
        except StoreUnavailableError:
            self._error(STORE_UNAVAILABLE_FRAME(), key)
        except Exception:
            # The socket has been upgraded: nothing may escape to the JSON error middleware.
            log.exception("websocket frame failed: %s", kind)
            self._error(INTERNAL_ERROR(), key)

    @staticmethod
    def _target(frame: dict[str, Any]) -> str:
        if "jobs" in frame:
            if frame["jobs"] != "all":
                raise INVALID_JOBS_FRAME()
            return JOBS_FEED
        return check_job_id(frame.get("jobId"))

    async def _subscribe(self, key: str, resume: str | None) -> None:
        scope = self.scope
        if scope is not None and key != scope:
            raise STREAM_TOKEN_SCOPE()  # a stream token's socket watches its own job only
        if key not in self.subs and len(self.subs) >= self.max_subscriptions:
            raise TOO_MANY_SUBSCRIPTIONS(limit=self.max_subscriptions)
        start = await self.hub.open(key, resume)
        if self.outbox.closed is not None or self._ended:
            return
        # Subscribing again restarts from the id given: the old subscription's queued frames
        # are dropped by the pump, so nothing arrives twice.
        old = self.subs.pop(key, None)
        if old is not None:
            self.hub.leave(old)
        sub = Subscription(key, self.outbox, start.last)
        self.subs[key] = sub
        self.hub.subscribe(sub, start)

    def _unsubscribe(self, key: str) -> None:
        sub = self.subs.pop(key, None)
        if sub is None:
            raise NOT_SUBSCRIBED()
        self.hub.leave(sub)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    settings = request.app[SETTINGS]
    if hub.closing:
        raise SHUTTING_DOWN()
    # permessage-deflate only when asked for (--ws-deflate): aiohttp would compress every
    # message once per socket; we deflate only big frames, once per delivery (outbox.py).
    ws = HandshakeOnly(compress=settings.ws_deflate)
    await ws.prepare(request)
    conn = WsConnection(hub, request, bool(ws.compress))
    request[HANDED_OVER] = conn
    conn.open(request)
    return ws
