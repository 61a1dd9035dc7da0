"""The aiohttp internals the push path relies on (server/live/aiohttp_internals.py), each checked
by name: after an aiohttp upgrade this says which one changed, before any stream misbehaves."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import struct
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.live import aiohttp_internals as internals
from server.live.sse import HandedOverResponse
from server.live.ws import HandshakeOnly
from tests.support.common import wait_until

VERSIONS = f"aiohttp {aiohttp.__version__}"


def resolve(dotted: str) -> Any:
    """``package.module.Class.attr`` to the attribute, as the class holds it (no descriptors
    run), or AssertionError naming what is missing."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            if name not in dir(target) and not (
                isinstance(target, type) and any(name in vars(c) for c in target.__mro__)
            ):
                raise AssertionError(
                    f"{VERSIONS}: {dotted} is gone; server/live/aiohttp_internals.py relies on it"
                )
            target = inspect.getattr_static(target, name)
        return target
    raise AssertionError(f"{VERSIONS}: cannot import {dotted}")


@pytest.mark.parametrize("dotted", internals.INTERNALS)
def test_each_internal_is_still_there(dotted: str) -> None:
    resolve(dotted)


def test_the_internals_have_the_shapes_we_use() -> None:
    assert resolve("aiohttp.web_response.StreamResponse._send_headers_immediately") is True, (
        f"{VERSIONS}: a StreamResponse no longer sends its headers in prepare"
    )
    post_start = resolve("aiohttp.web_ws.WebSocketResponse._post_start")
    assert list(inspect.signature(post_start).parameters) == [
        "self",
        "request",
        "protocol",
        "writer",
    ], f"{VERSIONS}: WebSocketResponse._post_start changed its signature"


def text_frame(payload: bytes) -> bytes:
    assert len(payload) < 126
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + b"\0\0\0\0" + payload


async def serve(handler: Any) -> TestServer:
    app = web.Application()
    app.router.add_get("/", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_a_websocket_handshake_without_post_start_hands_over_every_byte() -> None:
    """With ``_post_start`` a no-op (live/ws.py's ``HandshakeOnly``), aiohttp answers the
    handshake and reads nothing of the socket: a frame the client sent in the same packet as
    its upgrade request waits in ``_message_tail`` and comes out of ``hand_over`` whole."""
    tails: list[bytes] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = HandshakeOnly()
        await ws.prepare(request)
        transport, tail = internals.hand_over(request, asyncio.Protocol())
        assert transport is not None
        tails.append(tail)
        transport.close()
        return ws

    server = await serve(handler)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            + text_frame(b"hello")
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), VERSIONS
        await wait_until(lambda: bool(tails))
    finally:
        writer.close()
        await server.close()
    assert tails == [text_frame(b"hello")], f"{VERSIONS}: the upgrade's tail was not handed over"


async def test_request_heads_count_only_whole_heads() -> None:
    """The header sweeper's signal: a connection that sent nothing, or half a request line, or
    a request line and half its headers, has 0 request heads; the whole head makes it 1, before
    its handler answers."""
    handling = asyncio.Event()
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        handling.set()
        await release.wait()
        return web.Response(text="ok")

    server = await serve(handler)
    assert server.runner.server is not None
    connections = server.runner.server.connections
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        await wait_until(lambda: len(server.runner.server.connections) == 1)
        (conn,) = server.runner.server.connections
        assert connections == [], "Server.connections is no longer a copy"
        heads = []
        for part in (b"", b"GET / HT", b"TP/1.1\r\nHost: x\r\n", b"X-A: 1\r\n"):
            writer.write(part)
            await writer.drain()
            await _turns(3)  # loopback bytes are readable at once: the server's next turn
            heads.append(internals.request_heads_received(conn))
        writer.write(b"\r\n")
        await asyncio.wait_for(handling.wait(), 10)
        heads.append(internals.request_heads_received(conn))
        release.set()
        assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200"), VERSIONS
    finally:
        writer.close()
        await server.close()
    assert heads == [0, 0, 0, 0, 1], f"{VERSIONS}: RequestHandler._request_count changed meaning"


async def _turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_handed_over_connection_is_ours_and_aiohttp_lets_go() -> None:
    """``hand_over``: the handler returns at once, aiohttp forgets the connection (no longer in
    ``Server.connections``) and writes nothing more to it, and does not close it; the protocol
    we gave it sees the client's bytes and its leaving, and our writes reach the client."""
    got: list[bytes] = []
    lost = asyncio.Event()
    kept: dict[str, Any] = {}

    class Ours(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            got.append(data)

        def connection_lost(self, exc: Exception | None) -> None:
            lost.set()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = HandedOverResponse(headers={"Content-Type": "text/plain"})
        resp.force_close()
        await resp.prepare(request)
        kept["transport"], _ = internals.hand_over(request, Ours())
        return resp

    server = await serve(handler)
    assert server.runner.server is not None
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), VERSIONS
        await wait_until(lambda: not server.runner.server.connections)
        transport = kept["transport"]
        assert transport is not None and not transport.is_closing(), (
            f"{VERSIONS}: aiohttp closed a handed-over connection"
        )
        transport.write(b"ours")
        assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ours", (
            f"{VERSIONS}: aiohttp wrote to a handed-over connection"
        )
        writer.write(b"hello")
        await wait_until(lambda: b"".join(got) == b"hello")
        writer.close()
        await asyncio.wait_for(lost.wait(), 10)
    finally:
        writer.close()
        await server.close()
