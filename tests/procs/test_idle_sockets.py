"""Sockets that hold a file descriptor and send no request, against a real server process
(issue 12, finding 9).

- Sockets that send nothing, half a request line, or a request line and half its headers are
  closed within ``--header-timeout-s`` (+ one sweep), while a normal request is answered and an
  open SSE stream goes on receiving: the sweeper never closes a stream.
- Under ``ulimit -n 1024``, 1,100 real sockets: as SSE requests, the excess is refused with
  503 ``too_many_connections`` and ``/healthz`` still answers; as header-less sockets, the
  excess is closed at once, so ``/healthz`` answers while they are still connecting. After
  they close, a normal request works.
"""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.common import skip_or_fail, wait_until
from tests.support.procs import Proc, Procs, get_json

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]

FD_LIMIT = 1024
# What --max-connections is by default under that limit (server/oslimits.py: 90 %).
DEFAULT_CAP = int(FD_LIMIT * 0.9)
SOCKETS = 1100


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    group = Procs(tmp_path)
    yield group
    group.stop_all()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


NO_REQUEST_HEAD = 'doccount_connections_closed_total{reason="no_request_head"}'
OVER_CAPACITY = 'doccount_connections_closed_total{reason="over_capacity"}'


def serve_args(tmp_path: Path, *extra: str) -> tuple[str, ...]:
    store = f"sqlite:///{tmp_path}/jobs.db"
    return ("-m", "server", "serve", "--provider", "demo", "--store", store, "--port", "{port}",
            *extra)  # fmt: skip


async def metric(http: aiohttp.ClientSession, server: Proc, name: str) -> float:
    async with http.get(f"{server.url}/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {name} in /metrics")


async def next_result(stream: aiohttp.ClientResponse, after: int = -1) -> int:
    """The index of the next ``result`` event past index ``after`` on an SSE response. A
    result committed before its search volume arrived is sent again with it (same index): that
    update is not a new result, so it is skipped."""
    while True:
        block = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 30)
        lines = block.decode().splitlines()
        if "event: result" in lines:
            data = next(x for x in lines if x.startswith("data: "))
            index: int = json.loads(data[6:])["result"]["index"]
            if index > after:
                return index


async def connect(server: Proc, first: bytes = b"") -> Conn:
    assert server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    if first:
        writer.write(first)
        await writer.drain()
    return reader, writer


async def test_header_less_sockets_close_but_streams_and_requests_go_on(
    procs: Procs, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server = await procs.listening(
        "server",
        *serve_args(tmp_path, "--rate", "5", "--header-timeout-s", "1"),
        ready_path="/api/config",
    )
    body = {"keywords": [f"느린{i}" for i in range(200)], "categories": ["blog"]}
    async with http.post(f"{server.url}/api/documents/batch", json=body) as resp:
        job_id = (await resp.json())["jobId"]
    events = f"{server.url}/api/documents/events?jobId={job_id}"
    async with http.get(events, timeout=aiohttp.ClientTimeout(total=120)) as stream:
        assert stream.status == 200
        seen = [await next_result(stream)]

        opened_s = time.monotonic()
        silent = [await connect(server) for _ in range(20)]
        half_line = [await connect(server, b"GET /api/con") for _ in range(20)]
        half_head = b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */"
        half_headers = [await connect(server, half_head) for _ in range(10)]
        idle = silent + half_line + half_headers

        status, config = await get_json(http, f"{server.url}/api/config")
        assert status == 200 and config["success"] is True

        # Every one closed by the server with not a byte answered, well before aiohttp's own
        # 75 s keep-alive bound would have closed them.
        got = await asyncio.wait_for(asyncio.gather(*(r.read() for r, _ in idle)), 15)
        closed_after_s = time.monotonic() - opened_s
        assert got == [b""] * len(idle)
        assert closed_after_s >= 0.9, "closed before --header-timeout-s"

        # The stream goes on: more results, in order, after the sweeps.
        for _ in range(3):
            seen.append(await next_result(stream, seen[-1]))
        assert seen == list(range(seen[0], seen[0] + 4))

    assert await metric(http, server, NO_REQUEST_HEAD) == len(idle)
    for _, writer in idle:
        writer.close()
    assert server.alive()
    assert "Traceback" not in server.log(), server.log()[-3000:]


async def test_sigterm_still_stops_the_server_gracefully(
    procs: Procs, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """serve's own runner stops as web.run_app did: SIGTERM ends open streams (on_shutdown),
    closes idle sockets, runs cleanup_ctx (the store closed) and exits 0."""
    server = await procs.listening("server", *serve_args(tmp_path), ready_path="/api/config")
    async with http.get(f"{server.url}/api/documents/events?jobs=all") as stream:
        assert stream.status == 200
        await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 30)  # the jobs list
        reader, writer = await connect(server, b"GET /api/con")
        server.popen.send_signal(signal.SIGTERM)
        await asyncio.wait_for(stream.content.read(), 30)
        assert stream.content.at_eof()  # the server ended the stream
        assert await asyncio.wait_for(reader.read(), 30) == b""
        writer.close()
    assert await asyncio.to_thread(server.popen.wait, 30) == 0
    assert "Traceback" not in server.log(), server.log()[-3000:]


def raise_own_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        skip_or_fail(f"this test opens {needed} sockets; the hard open-files limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def limited_server(procs: Procs, tmp_path: Path, *extra: str) -> Proc:
    """A server under ``ulimit -n 1024`` (soft and hard: it cannot raise it)."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        skip_or_fail("prlimit (util-linux) is not installed")
    server = await procs.listening(
        "server",
        f"--nofile={FD_LIMIT}:{FD_LIMIT}",
        sys.executable,
        *serve_args(tmp_path, *extra),
        ready_path="/api/config",
        program=str(prlimit),
    )
    assert f"open-files limit {FD_LIMIT} (hard {FD_LIMIT})" in server.log()
    return server


async def answer_of(server: Proc, path: str) -> tuple[int, str]:
    """One request on a fresh socket: (status, error code) of its answer ("" for a 200), or
    (0, "") when the server closed it without one."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    reader, writer = await connect(server, request.encode())
    try:
        answer = await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()
    if not answer:
        return 0, ""
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, "" if status == 200 else json.loads(body)["code"]


async def config_answers(server: Proc) -> bool:
    return await answer_of(server, "/api/config") == (200, "")


async def healthz_answers(server: Proc) -> bool:
    """On a connection of its own (a pooled one was accepted long before)."""
    try:
        return await asyncio.wait_for(answer_of(server, "/healthz"), 2) == (200, "")
    except (OSError, TimeoutError):
        return False


@pytest.mark.timeout(180)
async def test_1100_sockets_under_ulimit_1024(
    procs: Procs, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    raise_own_fd_limit(SOCKETS + 200)
    # Every socket comes from 127.0.0.1: the per-address stream cap would refuse them first.
    # A long header timeout: here only the cap may close a header-less socket.
    server = await limited_server(
        procs, tmp_path, "--max-streams-per-client", "5000", "--header-timeout-s", "60"
    )
    assert server.port is not None
    feed = f"GET /api/documents/events?jobs=all HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n"

    # 1. 1,100 SSE streams: the cap's worth served, the rest refused with a JSON 503. One the
    # server had accepted but not read for over a second while past the cap may instead be
    # closed unanswered as a header-less socket (the sweeper cannot tell): counted apart.
    streams: list[Conn] = []
    answers: list[tuple[int, str]] = []

    async def open_stream() -> None:
        conn = await connect(server, feed.encode())
        streams.append(conn)
        try:
            head = await asyncio.wait_for(conn[0].readuntil(b"\r\n\r\n"), 60)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            answers.append((0, "closed unanswered"))
            return
        status = int(head.split(b" ", 2)[1])
        code = ""
        if status != 200:
            code = json.loads((await conn[0].read()).decode())["code"]  # the server hangs up
        answers.append((status, code))

    await asyncio.wait_for(asyncio.gather(*(open_stream() for _ in range(SOCKETS))), 90)
    unanswered = answers.count((0, "closed unanswered"))
    assert answers.count((200, "")) == DEFAULT_CAP
    assert answers.count((503, "too_many_connections")) == SOCKETS - DEFAULT_CAP - unanswered
    assert unanswered < (SOCKETS - DEFAULT_CAP) / 2, answers
    assert await healthz_answers(server)  # the probes are never refused
    assert await answer_of(server, "/api/config") == (503, "too_many_connections")
    for _, writer in streams:
        writer.close()
    await wait_until(lambda: config_answers(server), 30, 0.2)

    # 2. 1,100 sockets that never send a request head: past the cap they are closed at once,
    # so they cannot take the descriptors /healthz needs.
    before = await metric(http, server, OVER_CAPACITY)
    idle = await asyncio.wait_for(asyncio.gather(*(connect(server) for _ in range(SOCKETS))), 90)
    await wait_until(lambda: healthz_answers(server), 30, 0.1)

    async def excess_closed() -> bool:
        return await metric(http, server, OVER_CAPACITY) - before >= SOCKETS - DEFAULT_CAP

    await wait_until(excess_closed, 30, 0.2)  # every one accepted, the excess closed
    assert await healthz_answers(server)
    for _, writer in idle:
        writer.close()

    await wait_until(lambda: config_answers(server), 30, 0.2)
    assert server.alive()
    assert "Traceback" not in server.log(), server.log()[-3000:]
    flood = server.log().count("out of system resource")
    assert flood <= 10, f"{flood} exhaustion lines: not once per interval"
