"""Lean subscriber clients on raw asyncio protocols, for thousands of connections per process.

A full client library (aiohttp, websockets) spends more CPU per message than the server does
to send it, and the load generator shares the machine's 2 cores with the server. These
protocols do only what a measurement needs: the handshake, answering pings, finding each
event's id (one C regex call per read, not per message) and the time it arrived, and counting
bytes. Each records ``(id, t)`` receipts for latency; ``count_only`` keeps just the count.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import struct
import time
from array import array
from typing import Any, cast

SSE_ID = re.compile(rb"^id: ?([^\r\n]*)", re.M)
# Event JSON starts with its id ({"id":"17",...}, as make_event writes it; the peers do too).
WS_ID = re.compile(rb'\{"id":"([^"]*)"')


class Receipts:
    """Event ids seen and when (time.time()), packed: ids interned to small ints."""

    def __init__(self, record: bool) -> None:
        self.record = record
        self.ids: dict[bytes, int] = {}
        self.seen = array("d")  # flat pairs: id index, receive time
        self.count = 0

    def add(self, ids: list[bytes], t: float) -> None:
        self.count += len(ids)
        if not self.record:
            return
        for raw in ids:
            idx = self.ids.get(raw)
            if idx is None:
                idx = self.ids[raw] = len(self.ids)
            self.seen.append(idx)
            self.seen.append(t)


class Stats:
    """Shared by every connection of one load-generator process."""

    def __init__(self, record: bool) -> None:
        self.receipts = Receipts(record)
        self.connected = 0
        self.failed = 0
        self.closed_by_server = 0
        # Connections that have had their first event (our streams' first is the snapshot).
        self.started = 0
        self.heartbeats = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.errors: dict[str, int] = {}

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class _Base(asyncio.Protocol):
    def __init__(self, stats: Stats, request: bytes) -> None:
        self.stats = stats
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.open = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closing = False  # we closed it on purpose
        self.started = False  # has had an event

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio's.
        self.transport = cast(asyncio.Transport, transport)
        self.send(self.request)

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.stats.bytes_out += len(data)
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.stats.bytes_in += len(data)
        if self.open:
            self.on_body(data)
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return
        head, rest = self.head[:end], self.head[end + 4 :]
        self.head = b""
        status = head.split(b" ", 2)[1] if b" " in head else b"?"
        if status not in (b"200", b"101"):
            self.stats.failed += 1
            self.stats.error(f"HTTP {status.decode(errors='replace')}")
            self.close()
            return
        self.open = True
        self.stats.connected += 1
        self.on_open(head)
        if rest:
            self.on_body(rest)

    def on_open(self, head: bytes) -> None:
        pass

    def got(self, ids: list[bytes]) -> None:
        """Events received now (their ids, in order)."""
        if not self.started:
            self.started = True
            self.stats.started += 1
        self.stats.receipts.add(ids, time.time())

    def on_body(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open and not self.closing:
            self.stats.closed_by_server += 1
        if not self.done.done():
            self.done.set_result(None)


class SseClient(_Base):
    """HTTP/1.1 event stream; chunked framing lines are harmless to the id regex."""

    def __init__(self, stats: Stats, host: str, path: str, headers: dict[str, str]) -> None:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
            f"Cache-Control: no-cache\r\n{extra}\r\n"
        ).encode()
        super().__init__(stats, request)
        self.tail = b""

    def on_body(self, data: bytes) -> None:
        # Only whole lines are scanned; a line cut by a TCP read waits for its end.
        buf = self.tail + data
        cut = buf.rfind(b"\n")
        if cut < 0:
            self.tail = buf
            return
        self.tail = buf[cut + 1 :]
        whole = buf[: cut + 1]
        ids = SSE_ID.findall(whole)
        if ids:
            self.got(ids)
        elif whole.lstrip(b"\r\n0123456789abcdef").startswith(b":"):
            self.stats.heartbeats += 1


class WsClient(_Base):
    """RFC 6455 client: no extensions, masked frames out, pings answered with pongs."""

    def __init__(
        self, stats: Stats, host: str, path: str, first_message: bytes | None = None
    ) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        super().__init__(stats, request)
        self.buf = b""
        self.first_message = first_message

    def on_open(self, head: bytes) -> None:
        if self.first_message is not None:
            self.send_frame(0x1, self.first_message)

    def send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload)) if payload else b""
        self.send(header + mask + masked)

    def on_body(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos = 0
        ids: list[bytes] = []
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif n == 127:
                if end - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if end - pos < head + n:
                break
            start = pos + head
            opcode = b0 & 0x0F
            if opcode == 0x1 or opcode == 0x2:
                m = WS_ID.match(buf, start, start + min(n, 64))
                if m:
                    ids.append(m.group(1))
            elif opcode == 0x9:  # ping: the server's heartbeat
                self.stats.heartbeats += 1
                self.send_frame(0xA, buf[start : start + n])
            elif opcode == 0x8:
                self.buf = b""
                if not self.closing:
                    self.send_frame(0x8, buf[start : start + min(n, 2)])
                if ids:
                    self.got(ids)
                return
            pos = start + n
        self.buf = buf[pos:]
        if ids:
            self.got(ids)


async def connect(
    factory: Any, host: str, port: int, src: str | None, timeout_s: float = 30.0
) -> _Base | None:
    """Open one connection (from source address ``src``); None when it fails."""
    loop = asyncio.get_running_loop()
    try:
        _, proto = await asyncio.wait_for(
            loop.create_connection(factory, host, port, local_addr=(src, 0) if src else None),
            timeout_s,
        )
    except (OSError, TimeoutError) as exc:
        stats: Stats = factory.keywords["stats"] if hasattr(factory, "keywords") else None
        if stats is not None:
            stats.failed += 1
            stats.error(type(exc).__name__)
        return None
    assert isinstance(proto, _Base)
    return proto
