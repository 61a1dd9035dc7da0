"""A WebSocket client by hand (handshake, masked text frames, raw frame reads), for tests and
benchmarks that must see the frame bits and byte counts a library would hide."""

from __future__ import annotations

import asyncio
import base64
import os
import struct


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
