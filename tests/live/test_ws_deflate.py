"""WebSocket permessage-deflate (``--ws-deflate``, off by default): a late subscriber's big
snapshot goes deflated to a socket that negotiated it, and the same JSON plain to one that
did not; without the flag the extension is never agreed."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from tests.support.common import base_settings
from tests.support.streams import Driver

WS = "/api/documents/ws"
KEYWORDS = [f"압축-{i}" for i in range(200)]


async def app_with_finished_job(
    tmp_path: Path, fake_naver: Any, make_client: Any, deflate: bool
) -> tuple[TestClient[Any, Any], str]:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        run_worker=False,
        categories=("blog",),
        feed_block_s=0.05,
        ws_deflate=deflate,
    )
    client: TestClient[Any, Any] = await make_client(settings)
    driver = await Driver.start(client, KEYWORDS)
    await driver.claim()
    await driver.run_to_end()
    return client, driver.job_id


class RawSocket:
    """A WebSocket client by hand, to see the frame bits a library would hide."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, client: TestClient[Any, Any], offer: bool) -> tuple[RawSocket, str]:
        """Connects; returns the socket and the server's Sec-WebSocket-Extensions."""
        assert client.server.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {WS} HTTP/1.1",
            f"Host: 127.0.0.1:{client.server.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if offer:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
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

    async def frame(self) -> tuple[int, bytes]:
        """The next data frame: (its first byte, its payload); pings are skipped."""
        while True:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), 10)
            n = second & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(n)
            if first & 0x0F != 0x9:
                return first, payload

    def close(self) -> None:
        self.writer.close()


def subscribe(job_id: str) -> str:
    return json.dumps({"type": "subscribe", "jobId": job_id})


async def plain_snapshot(client: TestClient[Any, Any], job_id: str) -> str:
    async with client.ws_connect(WS, compress=0) as ws:
        await ws.send_str(subscribe(job_id))
        msg = await ws.receive(timeout=10)
        assert msg.type is WSMsgType.TEXT
        return str(msg.data)


async def test_a_snapshot_goes_deflated_when_negotiated(
    tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    client, job_id = await app_with_finished_job(tmp_path, fake_naver, make_client, True)
    plain = await plain_snapshot(client, job_id)
    snapshot = json.loads(plain)
    assert snapshot["type"] == "snapshot"
    assert [r["keyword"] for r in snapshot["job"]["results"]] == KEYWORDS

    sock, ext = await RawSocket.open(client, offer=True)
    try:
        assert ext.startswith("permessage-deflate")
        sock.send_text(subscribe(job_id))
        first, payload = await sock.frame()
        assert first == 0xC1  # FIN, RSV1 (compressed), text
        inflated = zlib.decompressobj(-zlib.MAX_WBITS).decompress(payload + b"\x00\x00\xff\xff")
        assert inflated.decode() == plain
        assert len(payload) * 4 < len(plain.encode())
    finally:
        sock.close()

    # A library client that negotiates it reads the same JSON.
    async with client.ws_connect(WS, compress=15) as ws:
        await ws.send_str(subscribe(job_id))
        msg = await ws.receive(timeout=10)
        assert msg.type is WSMsgType.TEXT and msg.data == plain


async def test_without_the_flag_the_extension_is_not_agreed(
    tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    client, job_id = await app_with_finished_job(tmp_path, fake_naver, make_client, False)
    plain = await plain_snapshot(client, job_id)
    sock, ext = await RawSocket.open(client, offer=True)
    try:
        assert ext == ""
        sock.send_text(subscribe(job_id))
        first, payload = await sock.frame()
        assert first == 0x81  # FIN, text, not compressed
        assert payload.decode() == plain
    finally:
        sock.close()
