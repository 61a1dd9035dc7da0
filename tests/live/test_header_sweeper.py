"""The header sweeper (server/api/sweeper.py) on an in-process server with a fake clock: which
connections it closes and which it leaves; and the aiohttp keep-alive behaviour it relies on
for connections between requests. tests/procs/test_idle_sockets.py runs it in a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.api.sweeper import NO_REQUEST_HEAD, OVER_CAPACITY, HeaderSweeper
from tests.support.common import wait_until

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
HEAD = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b"started\n")
        await release.wait()  # a long-lived stream, like SSE
        return resp

    async def fast(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/slow", slow)
    app.router.add_get("/fast", fast)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    release.set()
    await srv.close()


def connections(server: TestServer) -> int:
    assert server.runner.server is not None
    return len(server.runner.server.connections)


async def open_conns(server: TestServer, n: int, first: bytes = b"") -> list[Conn]:
    before = connections(server)
    conns = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        if first:
            writer.write(first)
            await writer.drain()
        conns.append((reader, writer))
    await wait_until(lambda: connections(server) == before + n)
    return conns


async def closed_by_server(conn: Conn) -> bool:
    """True when the server closed it (EOF), False when it is still open after the server has
    had every chance to close it (the sweep is synchronous: a closed transport is at EOF)."""
    reader, _ = conn
    try:
        data = await asyncio.wait_for(reader.read(1 << 16), 0.2)
    except TimeoutError:
        return False
    return data == b"" or reader.at_eof()


def sweeper(server: TestServer, clock: Clock, **kw: float) -> HeaderSweeper:
    assert server.runner.server is not None
    timeout_s = kw.get("timeout_s", 10.0)
    limit = int(kw.get("max_connections", 1000))
    return HeaderSweeper(server.runner.server, timeout_s, limit, clock=clock)


async def test_header_less_connections_close_after_the_timeout(server: TestServer) -> None:
    clock = Clock()
    sweep = sweeper(server, clock, timeout_s=10.0)
    silent = await open_conns(server, 2)
    half_line = await open_conns(server, 1, b"GET /fa")
    half_headers = await open_conns(server, 1, b"GET /fast HTTP/1.1\r\nHost: x\r\n")
    stream = await open_conns(server, 1, HEAD)
    assert (await stream[0][0].readuntil(b"started\n")).startswith(b"HTTP/1.1 200")

    assert sweep.sweep() == {NO_REQUEST_HEAD: 0, OVER_CAPACITY: 0}  # first seen now
    clock.now += 9.9
    assert sweep.sweep() == {NO_REQUEST_HEAD: 0, OVER_CAPACITY: 0}
    late = await open_conns(server, 1)  # first seen at 9.9 s: not yet due at 10 s
    clock.now += 0.1
    assert sweep.sweep() == {NO_REQUEST_HEAD: 4, OVER_CAPACITY: 0}

    for conn in silent + half_line + half_headers:
        assert await closed_by_server(conn)
    assert not await closed_by_server(late[0])
    assert not await closed_by_server(stream[0]), "a stream that sent its head was closed"
    assert connections(server) == 2
    clock.now += 10
    assert sweep.sweep() == {NO_REQUEST_HEAD: 1, OVER_CAPACITY: 0}
    assert await closed_by_server(late[0])
    for _, writer in silent + half_line + half_headers + stream + late:
        writer.close()


async def test_a_connection_that_finishes_its_head_in_time_is_served(server: TestServer) -> None:
    clock = Clock()
    sweep = sweeper(server, clock, timeout_s=10.0)
    ((reader, writer),) = await open_conns(server, 1, b"GET /fast HT")
    sweep.sweep()
    clock.now += 9
    writer.write(b"TP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
    clock.now += 100  # an idle keep-alive connection now: aiohttp's keep-alive timer's
    assert sweep.sweep() == {NO_REQUEST_HEAD: 0, OVER_CAPACITY: 0}
    writer.close()


async def test_past_the_cap_the_longest_waiting_header_less_ones_close(
    server: TestServer,
) -> None:
    clock = Clock()
    closed: list[tuple[str, int]] = []
    sweep = sweeper(server, clock, timeout_s=3600.0, max_connections=4)
    sweep.on_closed = lambda reason, n: closed.append((reason, n))
    stream = await open_conns(server, 1, HEAD)
    oldest = await open_conns(server, 2)
    assert sweep.sweep() == {NO_REQUEST_HEAD: 0, OVER_CAPACITY: 0}  # 3 of 4
    clock.now += 1
    newer = await open_conns(server, 4)
    # 7 of 4: but the newer ones may have their heads in flight; they get a second.
    assert sweep.sweep() == {NO_REQUEST_HEAD: 0, OVER_CAPACITY: 2}
    assert closed == [(OVER_CAPACITY, 2)]
    for conn in oldest:
        assert await closed_by_server(conn)
    for conn in newer + stream:
        assert not await closed_by_server(conn)
    clock.now += 0.5
    assert sweep.sweep() == {NO_REQUEST_HEAD: 0, OVER_CAPACITY: 0}
    clock.now += 0.5
    assert sweep.sweep() == {NO_REQUEST_HEAD: 0, OVER_CAPACITY: 1}
    assert await closed_by_server(newer[0])
    for conn in newer[1:] + stream:
        assert not await closed_by_server(conn)
    assert connections(server) == 4
    for _, writer in stream + oldest + newer:
        writer.close()


async def test_aiohttp_closes_half_a_second_request_at_its_keepalive_timeout() -> None:
    """Between requests the sweeper does nothing: aiohttp's keep-alive timer, re-armed after
    each response and not moved by a partial next request, closes the connection."""

    async def fast(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/fast", fast)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server(keepalive_timeout=0.3)
    try:
        reader, writer = await asyncio.open_connection(srv.host, srv.port)
        writer.write(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        await reader.readexactly(2)  # "ok"
        writer.write(b"GET /fa")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, well within 10 s
        writer.close()
    finally:
        await srv.close()


async def test_handed_over_streams_count_toward_the_cap(server: TestServer) -> None:
    """SSE streams that took their connections over are not in aiohttp's list, yet hold a
    file descriptor each: ``handed_over()`` counts them, so 2 header-less connections beside 3
    such streams are 1 over a cap of 4."""
    clock = Clock()
    assert server.runner.server is not None
    sweep = HeaderSweeper(server.runner.server, 3600.0, 4, clock=clock, handed_over=lambda: 3)
    idle = await open_conns(server, 2)
    assert sweep.sweep() == {NO_REQUEST_HEAD: 0, OVER_CAPACITY: 0}
    clock.now += 1
    assert sweep.sweep() == {NO_REQUEST_HEAD: 0, OVER_CAPACITY: 1}
    assert sum([await closed_by_server(conn) for conn in idle]) == 1
    for _, writer in idle:
        writer.close()
