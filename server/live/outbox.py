"""What a live connection is sent, and the bounded queue that holds it until it is written.

A Delivery wraps one event's JSON (encoded once, when it was appended to the log) and caches its
wire forms, so a feed with a thousand subscribers frames each event once, not a thousand times.
An Outbox is one connection's queue: the hub's feed *offers* (never waits; a full outbox means a
slow consumer, which is cut off), a subscription catching up from the store *puts* (waits for
room, at its own pace), and the connection's pump *takes*. A connection's pump is a task only
while something is queued (``wake`` starts it, it ends when the outbox is empty): an idle
connection holds no task of ours, and while it keeps up the feed writes straight through
(``write_through``), with no queueing and no task switch.

Full means either too many items or too many bytes: what is queued plus what the transport still
holds unsent, snapshots included, past ``max_bytes``. A client that re-subscribes to a big
finished job and never reads would otherwise make the server hold a snapshot per frame: past the
byte bound it is cut like any slow consumer (the catch-up path included: it never waits on a
byte-full outbox, so nothing piles up behind it).
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Callable
from typing import Generic, TypeVar

from server.events import Event

# Whoever queued an item (the hub's Subscription); the outbox only hands it back, so it is a
# type parameter rather than an import of the hub (which would make the two import each other).
S = TypeVar("S")

# Not an event type: marks the end of a subscription with nothing more to send (or, over
# WebSocket, with an error frame to send).
END = "_end"

# Why an outbox was closed; the pump stops at once whatever the reason.
SLOW = "slow consumer"
SHUTDOWN = "shutdown"
GONE = "connection closed"


class Delivery:
    __slots__ = ("_sse", "_ws", "_ws_deflated", "final", "id", "json", "type")

    def __init__(self, id_: str | None, type_: str, json: str, final: bool = False) -> None:
        self.id = id_
        self.type = type_
        self.json = json
        # The last delivery of its subscription (a job's terminal status, or a snapshot of a
        # job that is already over).
        self.final = final
        self._sse: bytes | None = None
        self._ws: bytes | None = None
        self._ws_deflated: bytes | None = None

    @classmethod
    def of(cls, event: Event, final: bool = False) -> Delivery:
        return cls(event.id, event.type, event.json, final)

    @classmethod
    def end(cls, error_json: str = "") -> Delivery:
        return cls(None, END, error_json, True)

    def sse(self) -> bytes:
        """The SSE frame: ``id:``, ``event:`` and the JSON as ``data:``, as is."""
        if self._sse is None:
            head = f"id: {self.id}\n" if self.id is not None else ""
            # orjson escapes every line break inside strings, so this is one data line; split
            # anyway should some other encoder ever produce one.
            data = "\ndata: ".join(self.json.splitlines()) if "\n" in self.json else self.json
            self._sse = f"{head}event: {self.type}\ndata: {data}\n\n".encode()
        return self._sse

    def ws(self) -> bytes:
        """The whole WebSocket text frame as a server sends it (final, unmasked, uncompressed):
        built once, written as is to every socket."""
        if self._ws is None:
            payload = self.json.encode()
            n = len(payload)
            self._ws = ws_head(0x81, n) + payload
        return self._ws

    def ws_deflated(self) -> bytes:
        """The frame compressed for a socket that negotiated permessage-deflate (RFC 7692):
        RSV1 set, the message deflated on its own (a fresh compressor, no shared window), so
        the same bytes are valid on every such socket whatever its context-takeover terms
        (a peer's window may hold more history than this message refers to, never less).
        Built once per delivery, like ``ws``."""
        if self._ws_deflated is None:
            deflater = zlib.compressobj(WS_DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
            body = deflater.compress(self.json.encode()) + deflater.flush(zlib.Z_SYNC_FLUSH)
            # RFC 7692 7.2.1: the sync flush's trailing empty block is left off the wire.
            body = body.removesuffix(b"\x00\x00\xff\xff")
            self._ws_deflated = ws_head(0xC1, len(body)) + body
        return self._ws_deflated


# Fast and most of the gain on JSON this repetitive (level 6 saves a few % more at ~3× CPU).
WS_DEFLATE_LEVEL = 1


def ws_head(first: int, n: int) -> bytes:
    """A server's frame header: ``first`` (FIN, RSV bits, opcode) and the payload length."""
    if n < 126:
        return struct.pack("!BB", first, n)
    if n < 65536:
        return struct.pack("!BBH", first, 126, n)
    return struct.pack("!BBQ", first, 127, n)


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of an HTTP/1.1 chunked body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


class Page:
    """What a feed publishes at once to all its subscribers: consecutive deliveries, whose
    wire forms are joined once for every connection (one write each)."""

    __slots__ = ("_sse", "_ws", "deliveries", "final", "last")

    def __init__(self, deliveries: list[Delivery]) -> None:
        self.deliveries = deliveries
        self.last = deliveries[-1].id
        self.final = deliveries[-1].final
        self._sse: bytes | None = None
        self._ws: bytes | None = None

    def sse(self) -> bytes:
        """The SSE frames, back to back."""
        deliveries = self.deliveries
        return (
            deliveries[0].sse() if len(deliveries) == 1 else b"".join(d.sse() for d in deliveries)
        )

    def sse_chunk(self) -> bytes:
        """The SSE frames as one HTTP/1.1 chunk of the stream's chunked body."""
        if self._sse is None:
            self._sse = chunk(self.sse())
        return self._sse

    def ws(self) -> bytes:
        """The WebSocket frames, back to back."""
        if self._ws is None:
            self._ws = b"".join(d.ws() for d in self.deliveries)
        return self._ws


# A connection's way to write a page at once, from the feed, without waking its pump. False:
# not now (not started, closing, or the peer's buffer over its high-water mark): queue it.
Sink = Callable[[S, Page], bool]

Item = tuple[S | None, Delivery]
# A delivery's size on this connection's wire (its cached SSE or WebSocket form).
Sizer = Callable[[Delivery], int]


def no_backlog() -> int:
    return 0


def unsent_bytes(transport: asyncio.BaseTransport | None) -> Callable[[], int]:
    """What ``transport`` holds unsent: the part of a connection's backlog past its outbox."""
    if isinstance(transport, asyncio.WriteTransport):
        return transport.get_write_buffer_size
    return no_backlog


def ws_size(delivery: Delivery) -> int:
    return len(delivery.ws())


def sse_size(delivery: Delivery) -> int:
    return len(delivery.sse())


class Outbox(Generic[S]):
    __slots__ = (
        "_items",
        "_on_cut",
        "_reader",
        "_room",
        "_size",
        "_wake",
        "backlog",
        "capacity",
        "catch_up_limit",
        "closed",
        "max_bytes",
        "pumping",
        "queued_bytes",
        "sink",
    )

    def __init__(
        self,
        capacity: int,
        on_cut: Callable[[], None],
        *,
        max_bytes: int | None = None,
        size: Sizer | None = None,
        backlog: Callable[[], int] = no_backlog,
        wake: Callable[[], None] | None = None,
    ) -> None:
        """``max_bytes`` (with ``size``, which measures a delivery) bounds the bytes queued
        plus ``backlog()``, the bytes the transport has not sent yet. ``wake``: called when
        something is queued while no pump runs (the connection then starts one, sets
        ``pumping`` and takes with ``take_ready``); without it a consumer awaits ``take``."""
        self.capacity = max(2, capacity)
        self.max_bytes = max_bytes
        self._size = size
        self.backlog = backlog  # set again once a taken-over connection has its transport
        self.queued_bytes = 0
        # Catching up stops at half, so that live events always find room behind a backlog.
        self.catch_up_limit = self.capacity // 2
        # A list, not a deque: a deque's first block is ~600 bytes, on every idle connection.
        self._items: list[Item[S]] = []
        self._reader: asyncio.Future[None] | None = None
        # Set while a subscription catching up waits for room (made only then: most never do).
        self._room: asyncio.Future[None] | None = None
        self._on_cut = on_cut
        self._wake = wake
        self.pumping = False
        self.closed: str | None = None
        self.sink: Sink[S] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def _fits(self, delivery: Delivery) -> int | None:
        """The delivery's size when it fits the byte bound (0 when there is none), else None.
        One delivery bigger than the bound still goes through an otherwise empty connection:
        a job's snapshot must always be deliverable once."""
        if self.max_bytes is None or self._size is None:
            return 0
        size = self._size(delivery)
        held = self.queued_bytes + self.backlog()
        return size if held == 0 or held + size <= self.max_bytes else None

    def _cut(self) -> None:
        self.close(SLOW)
        self._on_cut()

    def _append(self, sub: S | None, delivery: Delivery, size: int) -> None:
        self._items.append((sub, delivery))
        self.queued_bytes += size
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)
        elif self._wake is not None and not self.pumping:
            self._wake()

    def offer(self, sub: S | None, delivery: Delivery) -> bool:
        """Queue without waiting. A full outbox is a consumer that cannot keep up: it is closed
        and its connection cut (it resumes by id), so nobody upstream ever waits for it."""
        if self.closed is not None:
            return False
        size = self._fits(delivery)
        if size is None or len(self._items) >= self.capacity:
            self._cut()
            return False
        self._append(sub, delivery, size)
        return True

    def write_through(self, sub: S, page: Page) -> bool:
        """Hand ``page`` straight to the connection when nothing is queued and the pump is
        waiting: no queueing, no task switch. A final page always takes the queue, so that the
        pump sees the end."""
        sink = self.sink
        if sink is None or self._items or page.final:
            return False
        if self._wake is not None:
            if self.pumping:
                return False
        else:
            reader = self._reader
            if reader is None or reader.done():
                return False
        return sink(sub, page)

    async def put(self, sub: S | None, delivery: Delivery) -> bool:
        """Queue once there is room below the catch-up limit. False if the outbox closed.
        Over the byte bound it does not wait: the connection is cut."""
        while len(self._items) >= self.catch_up_limit and self.closed is None:
            if self._fits(delivery) is None:
                self._cut()
                break
            if self._room is None or self._room.done():
                self._room = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._room)
        if self.closed is not None:
            return False
        size = self._fits(delivery)
        if size is None:
            self._cut()
            return False
        self._append(sub, delivery, size)
        return True

    def end(self, sub: S | None, error_json: str = "") -> None:
        """Mark a subscription's end. Past capacity on purpose: it is one small item, and
        dropping it would leave the connection waiting for nothing."""
        if self.closed is None:
            delivery = Delivery.end(error_json)
            self._append(sub, delivery, self._size(delivery) if self._size is not None else 0)

    async def _has_items(self) -> bool:
        """Wait until something is queued (True) or the outbox is closed (False)."""
        while self.closed is None:
            if self._items:
                return True
            self._reader = asyncio.get_running_loop().create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        return False

    async def take(self) -> Item[S] | None:
        """The next item, or None once the outbox is closed (what was left is dropped)."""
        if not await self._has_items():
            return None
        item = self._items.pop(0)
        if self._size is not None:
            self.queued_bytes -= self._size(item[1])
        if len(self._items) < self.catch_up_limit:
            self._wake_putters()
        return item

    async def take_all(self) -> list[Item[S]] | None:
        """Everything queued, at once (written as one buffer), or None once the outbox is
        closed. Waits only when there is nothing queued."""
        if not await self._has_items():
            return None
        items, self._items = self._items, []
        self.queued_bytes = 0
        self._wake_putters()
        return items

    def take_ready(self) -> list[Item[S]]:
        """Everything queued, now (empty when nothing is, or the outbox is closed): the pump's
        take, which never waits."""
        if self.closed is not None or not self._items:
            return []
        items, self._items = self._items, []
        self.queued_bytes = 0
        self._wake_putters()
        return items

    def _wake_putters(self) -> None:
        room = self._room
        if room is not None:
            self._room = None
            if not room.done():
                room.set_result(None)

    def close(self, reason: str) -> None:
        if self.closed is not None:
            return
        self.closed = reason
        self._items.clear()
        self.queued_bytes = 0
        self._wake_putters()
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)
