"""A WebSocket after its handshake is the connection's own (server/live/ws.py): what aiohttp
did for it, it now does itself. A frame sent behind the upgrade request in the same packet is
read; pings are answered; a client that answers no ping for a whole heartbeat period is cut
off, one that answers stays; a client's close is answered with its code and frees its slot."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.api.capacity import OPEN_REQUESTS
from server.api.security import STREAM_SLOTS
from server.appkeys import HUB
from server.live.wsframes import CLOSE, PING, PONG, TEXT, unmask
from tests.support.common import base_settings, wait_until
from tests.support.streams import submit

WS = "/api/documents/ws"


@pytest.fixture
def settings(tmp_path: Path, fake_naver: Any) -> Any:
    # The default heartbeat: the tests fire the timer by hand.
    return replace(base_settings(tmp_path, fake_naver[1]), run_worker=False, heartbeat_s=15.0)


def masked(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    assert len(payload) < 126
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + unmask(payload, mask)


class RawSocket:
    """A WebSocket client by hand: it answers nothing unless told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, client: Any, first: bytes = b"") -> RawSocket:
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {WS} HTTP/1.1\r\nHost: {client.server.host}:{client.server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            + first
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def next(self) -> tuple[int, bytes]:
        b0, b1 = await asyncio.wait_for(self.reader.readexactly(2), 10)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        return b0 & 0x0F, await self.reader.readexactly(n)

    async def closed(self) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1 << 16), 10) == b""
        except ConnectionResetError:
            return True


async def test_a_frame_behind_the_upgrade_request_is_read(settings, make_client) -> None:
    client = await make_client(settings)
    job_id = await submit(client, ["a"])
    sub = json.dumps({"type": "subscribe", "jobId": job_id}).encode()
    ws = await RawSocket.open(client, first=masked(TEXT, sub))
    opcode, payload = await ws.next()
    assert opcode == TEXT and json.loads(payload)["type"] == "snapshot"
    ws.writer.close()


async def test_pings_are_answered_and_a_silent_client_is_cut_off(settings, make_client) -> None:
    client = await make_client(settings)
    hub = client.app[HUB]
    silent = await RawSocket.open(client)
    lively = await RawSocket.open(client)
    await wait_until(lambda: len(hub.heartbeat.members) == 2)
    lively.writer.write(masked(PING, b"hi"))
    assert await lively.next() == (PONG, b"hi")

    hub.heartbeat._tick()  # what the timer does every heartbeat_s
    assert await silent.next() == (PING, b"")
    assert await lively.next() == (PING, b"")
    lively.writer.write(masked(PONG, b""))
    await lively.writer.drain()
    # The pong must be in before the next period: wait until the server has read it.
    conns = {id(m): m for m in hub.heartbeat.members}
    await wait_until(lambda: sum(getattr(m, "_pong_due", False) for m in conns.values()) == 1)

    hub.heartbeat._tick()  # a whole period without an answer: the silent one is aborted
    assert await silent.closed()
    assert await lively.next() == (PING, b"")
    await wait_until(lambda: len(hub.heartbeat.members) == 1)
    await wait_until(lambda: client.app[OPEN_REQUESTS].open == 1)
    lively.writer.close()
    await wait_until(lambda: client.app[OPEN_REQUESTS].open == 0)
    assert client.app[STREAM_SLOTS].total() == 0


async def test_a_clients_close_is_answered_with_its_code(settings, make_client) -> None:
    client = await make_client(settings)
    ws = await RawSocket.open(client)
    await wait_until(lambda: client.app[OPEN_REQUESTS].open == 1)
    ws.writer.write(masked(CLOSE, (4000).to_bytes(2, "big") + b"bye"))
    # 4000 is private: answered 1000.
    assert await ws.next() == (CLOSE, (1000).to_bytes(2, "big"))
    assert await ws.closed()
    await wait_until(lambda: client.app[OPEN_REQUESTS].open == 0)

    ws = await RawSocket.open(client)
    ws.writer.write(masked(CLOSE, (1001).to_bytes(2, "big")))
    assert await ws.next() == (CLOSE, (1001).to_bytes(2, "big"))
    assert await ws.closed()
    await wait_until(lambda: client.app[STREAM_SLOTS].total() == 0)


async def test_a_broken_frame_closes_with_protocol_error(settings, make_client) -> None:
    client = await make_client(settings)
    ws = await RawSocket.open(client)
    ws.writer.write(bytes((0x81, 0x01)) + b"x")  # unmasked
    opcode, payload = await ws.next()
    assert (opcode, payload[:2]) == (CLOSE, (1002).to_bytes(2, "big"))
    ws.writer.write(masked(CLOSE, payload[:2]))
    assert await ws.closed()
    await wait_until(lambda: client.app[OPEN_REQUESTS].open == 0)
