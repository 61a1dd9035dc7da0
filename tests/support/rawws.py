"""A WebSocket client that sends and never reads: what a hostile or stuck peer looks like to the
server. aiohttp's client would read in the background; this one only writes, on a socket with a
small receive buffer, so the server's side of the connection backs up at once."""

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
