"""``GET /api/documents/ws``: one WebSocket carrying any number of jobs (and the jobs feed).

Client frames: ``{"type": "subscribe", "jobId": ..., "lastEventId"?: ...}``,
``{"type": "subscribe", "jobs": "all"}`` and the matching ``unsubscribe``. Server frames: the
event JSON exactly as SSE sends it, and ``{"type": "error", "code", "message", "jobId"?}`` for a
frame we cannot serve (the socket stays open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from server.appkeys import HUB, SETTINGS, STREAM_SCOPE
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
from server.live.aiohttp_internals import drain, protocol_of, transport_of, writing_paused
from server.live.hub import Hub, Subscription
from server.live.outbox import GONE, SHUTDOWN, Delivery, Outbox, Page, unsent_bytes, ws_size
from server.live.wire import error_json, parse_event_id
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


class WsConnection:
    __slots__ = (
        "_closing",
        "_pump",
        "deflate",
        "frame_rate",
        "hub",
        "max_subscriptions",
        "outbox",
        "protocol",
        "request",
        "subs",
        "transport",
        "ws",
    )

    def __init__(self, hub: Hub, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.hub = hub
        self.request = request
        self.ws = ws
        # permessage-deflate negotiated (only offered with --ws-deflate): big frames (a
        # snapshot) go deflated; live events stay plain, the same bytes for every socket.
        self.deflate = bool(ws.compress)
        self.max_subscriptions = request.app[SETTINGS].max_streams_per_client
        self.outbox: Outbox[Subscription] = Outbox(
            hub.capacity,
            self._cut,
            max_bytes=hub.backlog_bytes,
            size=ws_size,
            backlog=unsent_bytes(transport_of(request)),
            wake=self._wake,
        )
        self.frame_rate = FrameRate(request.app[SETTINGS].ws_frames_per_s, time.monotonic())
        self.outbox.sink = self._write_now
        # Looked up once: the feed checks them for every page it hands over.
        self.transport = transport_of(request)
        self.protocol = protocol_of(request)
        self.subs: dict[str, Subscription] = {}
        self._closing: asyncio.Task[None] | None = None
        # A task only while something is queued: an idle socket holds aiohttp's reader alone.
        self._pump: asyncio.Task[None] | None = None

    # --- closing ----------------------------------------------------------------------------

    def _cut(self) -> None:
        self.hub.note_cut("ws")
        self._close_soon(SLOW_CONSUMER, SLOW_CONSUMER_REASON)

    async def shutdown(self) -> None:
        self.outbox.close(SHUTDOWN)
        self._close_soon(WSCloseCode.GOING_AWAY, GOING_AWAY_REASON)
        assert self._closing is not None
        await asyncio.shield(self._closing)

    def _close_soon(self, code: int, reason: bytes) -> None:
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: bytes) -> None:
        """Politely; or, when the close frame cannot get through in time, abort."""
        try:
            await asyncio.wait_for(
                self.ws.close(code=code, message=reason), self.hub.close_timeout_s
            )
        except (TimeoutError, ConnectionError):
            transport = transport_of(self.request)
            if transport is not None:
                transport.abort()

    # --- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        self.hub.track(self)
        try:
            while True:
                # receive(), not ``async for``: one suspended frame fewer on every idle socket.
                msg = await self.ws.receive()
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self._error(BINARY_FRAME())
                else:  # closing, or ERROR: a frame over max_msg_size, a protocol violation
                    break
                del msg
        finally:
            for sub in self.subs.values():
                self.hub.leave(sub)
            self.subs.clear()
            self.outbox.close(GONE)
            self.hub.untrack(self)
            pump = self._pump
            if pump is not None:
                pump.cancel()  # it may be stuck writing to a peer that is gone
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
            if self._closing is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._closing

    def _wake(self) -> None:
        """Something is queued: a pump, until the outbox is empty again."""
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
            pass  # the reader sees the socket end
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
            or self.ws.closed
            or writing_paused(self.protocol)
            or self.subs.get(sub.key) is not sub
        ):
            return False
        transport.write(page.ws())
        self.hub.note_delivered("ws", len(page.deliveries))
        return True

    async def _write(self, data: bytes) -> None:
        """Whole frames, framed once per event for every socket (``Delivery.ws``), all that
        was queued in one write; then wait while the peer's buffer is over the high-water mark,
        as aiohttp's own ``send_frame`` does. Nothing goes after our close frame."""
        transport = transport_of(self.request)
        if self.ws.closed or transport is None or transport.is_closing():
            raise ConnectionResetError("websocket closing")
        transport.write(data)
        if writing_paused(self.protocol):
            await drain(self.protocol)

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
        scope = self.request.get(STREAM_SCOPE)
        if scope is not None and key != scope:
            raise STREAM_TOKEN_SCOPE()  # a stream token's socket watches its own job only
        if key not in self.subs and len(self.subs) >= self.max_subscriptions:
            raise TOO_MANY_SUBSCRIPTIONS(limit=self.max_subscriptions)
        start = await self.hub.open(key, resume)
        if self.outbox.closed is not None:
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
    ws = web.WebSocketResponse(
        heartbeat=settings.heartbeat_s,
        # aiohttp refuses a message of max_msg_size bytes already; the limit is "over" it.
        max_msg_size=settings.max_ws_message_bytes + 1,
        compress=settings.ws_deflate,
    )
    await ws.prepare(request)
    await WsConnection(hub, request, ws).run()
    return ws
