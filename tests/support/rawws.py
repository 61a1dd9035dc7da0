"""A WebSocket client that sends and never reads: what a hostile or stuck peer looks like to the
server. aiohttp's client would read in the background; this one only writes, on a socket with a
small receive buffer, so the server's side of the connection backs up at once.

``RawSocket``: a WebSocket client by hand that reads, for tests and benchmarks that must see
the frame bits (RSV1: compressed) and byte counts a library would hide."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct


def text_frame(payload: str) -> bytes:
    """A masked, final text frame (clients must mask)."""
    data = payload.encode()
    mask = os.urandom(4)
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return head + mask + masked


class DeafSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, path: str, rcvbuf: int = 4096) -> DeafSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        # A tiny reader limit: the stream never buffers much beyond the handshake either.
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        # From here on nothing is read: the transport stops reading once its buffer is full.
        writer.transport.pause_reading()
        return cls(reader, writer)

    async def send(self, payload: str) -> None:
        self.writer.write(text_frame(payload))
        await self.writer.drain()

    def close(self) -> None:
        self.writer.transport.abort()


class RawSocket:
    """A WebSocket client by hand, to see the frame bits a library would hide."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received_bytes = 0  # frames read so far, headers included

    @classmethod
    async def open(
        cls, port: int | None, path: str, offer: bool, timeout_s: float = 10.0
    ) -> tuple[RawSocket, str]:
        """Connects; returns the socket and the server's Sec-WebSocket-Extensions."""
        assert port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if offer:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)).decode()
        assert head.startswith("HTTP/1.1 101"), head
        ext = ""
        for line in head.split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "sec-websocket-extensions":
                ext = value.strip()
        return cls(reader, writer), ext

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        self.writer.write(struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked)

    async def frame(self, timeout_s: float = 10.0) -> tuple[int, bytes]:
        """The next data frame: (its first byte, its payload); pings are skipped."""
        while True:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), timeout_s)
            n = second & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(n)
            self.received_bytes += n + (2 if n < 126 else 4 if n < 65536 else 10)
            if first & 0x0F != 0x9:
                return first, payload

    def close(self) -> None:
        self.writer.close()
