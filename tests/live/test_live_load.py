"""Fan-out under load, over real sockets: a subscriber that stops reading while 10,000 events
flow is cut off without slowing the writer or anyone else, and resumes by id; a thousand
subscribers of one job all get every event in order."""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMessage, WSMsgType
from aiohttp.test_utils import TestClient

from server.appkeys import HUB, STORE
from server.store.base import Store
from tests.support.common import base_settings, skip_or_fail, wait_until
from tests.support.streams import WORKER_ID, SseBlocks, create_job, result

WS = "/api/documents/ws"
EVENTS = "/api/documents/events"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # No connection limit: every subscriber holds its connection for the whole test.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as made:
        yield made


async def ws_until_end(ws: aiohttp.ClientWebSocketResponse) -> tuple[list[str], WSMessage]:
    """Ids received until the terminal status (returned with it), or until the connection ends
    (returned with the message that ended it)."""
    ids = []
    while True:
        msg = await ws.receive()
        if msg.type is not WSMsgType.TEXT:
            return ids, msg
        frame = json.loads(msg.data)
        ids.append(frame["id"])
        if frame["type"] == "status" and frame["status"] == "completed":
            return ids, msg


async def ws_ids(ws: aiohttp.ClientWebSocketResponse) -> list[str]:
    return (await ws_until_end(ws))[0]


async def sse_until_end(resp: aiohttp.ClientResponse) -> tuple[list[str], bool]:
    """Ids received until the stream ends, and whether it ended cleanly."""
    blocks = SseBlocks(resp)
    ids = []
    try:
        while (block := await blocks.next()) is not None:
            assert block.id is not None
            ids.append(block.id)
    except aiohttp.ClientPayloadError:
        return ids, False  # cut off mid-chunk
    return ids, True


async def sse_ids(resp: aiohttp.ClientResponse) -> list[str]:
    return (await sse_until_end(resp))[0]


def ids_between(first: int, last: int) -> list[str]:
    return [str(i) for i in range(first, last + 1)]


async def write_results(
    store: Store, job_id: str, n: int, pad: str, before_finish: Awaitable[None] | None = None
) -> tuple[float, float]:
    """Append ``n`` results (four writers keep the store's one thread busy), wait for
    ``before_finish`` if given, and finish. Returns the slowest single append and the time
    all appends took, in seconds."""
    slowest_s = 0.0
    started = time.monotonic()

    async def writer(first: int) -> None:
        nonlocal slowest_s
        for i in range(first, n, 4):
            t0 = time.monotonic()
            await store.record_result(job_id, i, result(i, f"{i:05d}{pad}"), WORKER_ID)
            slowest_s = max(slowest_s, time.monotonic() - t0)

    await asyncio.gather(*(writer(k) for k in range(4)))
    appends_s = time.monotonic() - started
    if before_finish is not None:
        await before_finish
    await store.finish(job_id, "completed", None, WORKER_ID)
    return slowest_s, appends_s


async def test_a_stalled_subscriber_is_cut_off_while_10000_events_flow(
    tmp_path: Path, fake_naver: Any, make_client: Any, session: aiohttp.ClientSession
) -> None:
    """Two subscribers stop reading: the writer and the others go on at full speed, both are cut
    off. The WebSocket one reads again right away: what was on its way, then close 4008. The SSE
    one reads only at the end: a prefix, never the end. Both resume by id."""
    settings = replace(base_settings(tmp_path, fake_naver[1]), run_worker=False)
    client: TestClient[Any, Any] = await make_client(settings)
    store, hub = client.app[STORE], client.app[HUB]
    hub.close_timeout_s = 10.0  # the WebSocket one has this long to read up to its close
    n = 10_000
    # ~1 KB per event, 10 MB in all: the kernel holds ~4 MB for a loopback peer that stopped
    # reading before a write blocks, and only then can a queue fill.
    pad = "가" * 300
    job_id = await create_job(store, [f"{i:05d}" for i in range(n)])
    url = client.make_url(EVENTS).with_query(jobId=job_id)
    ws_url = client.make_url(WS)

    async def open_ws() -> aiohttp.ClientWebSocketResponse:
        ws = await session.ws_connect(ws_url)
        await ws.send_json({"type": "subscribe", "jobId": job_id})
        return ws

    healthy_ws = [await open_ws() for _ in range(2)]
    healthy_sse = await session.get(url)
    stalled_ws = await open_ws()
    stalled_sse = await session.get(url)  # headers read; the body is not, until the end
    await wait_until(lambda: hub.stats()["subscribers"] == 5)
    readers = [asyncio.create_task(ws_ids(ws)) for ws in healthy_ws]
    readers.append(asyncio.create_task(sse_ids(healthy_sse)))

    assert await store.claim_next(WORKER_ID, 0) is not None
    both_cut = wait_until(lambda: hub.stats()["slowConsumersCut"] == 2, timeout_s=60)
    # The job's end waits until both are cut, so they are cut mid-job, before its last event.
    writing = asyncio.create_task(write_results(store, job_id, n, pad, before_finish=both_cut))
    await wait_until(lambda: hub.stats()["slowConsumersCut"] == 2, timeout_s=60)
    late_reader = asyncio.create_task(ws_until_end(stalled_ws))
    slowest_write_s, _ = await writing
    async with asyncio.timeout(60):
        received = await asyncio.gather(*readers)
        cut_ws_ids, cut_ws_end = await late_reader

    everything = ids_between(1, n + 3)  # snapshot at 1, processing, n results, completed
    for ids in received:
        assert ids == everything
    # The writer never waited on anyone: no append stalled as long as a wait for a slow reader
    # would (its close_timeout_s, 10 s). One append takes milliseconds; half the timeout is
    # slack for a loaded machine. (How fast appends are is measured in bench/, not here.)
    assert slowest_write_s < hub.close_timeout_s / 2
    assert (cut_ws_end.type, cut_ws_end.data, cut_ws_end.extra) == (
        WSMsgType.CLOSE,
        4008,
        "slow consumer",
    )
    # The SSE one's stream ended too: politely once its last write got into the socket, or
    # aborted after close_timeout_s if that write never did (which depends on the kernel).
    await wait_until(lambda: hub.stats()["subscribers"] == 0, timeout_s=30)
    cut_sse_ids = await sse_ids(stalled_sse)

    # Both got a prefix, never the end, and resume by id to exactly the rest.
    for ids in (cut_ws_ids, cut_sse_ids):
        assert 1 <= len(ids) < len(everything)
        assert ids == everything[: len(ids)]
    async with session.ws_connect(ws_url) as ws:
        await ws.send_json({"type": "subscribe", "jobId": job_id, "lastEventId": cut_ws_ids[-1]})
        assert cut_ws_ids + await ws_ids(ws) == everything
    async with session.get(url, headers={"Last-Event-ID": cut_sse_ids[-1]}) as resp:
        assert cut_sse_ids + await sse_ids(resp) == everything
    for ws in [*healthy_ws, stalled_ws]:
        await ws.close()
    healthy_sse.close()
    stalled_sse.close()


def ensure_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        skip_or_fail(f"needs {needed} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def test_a_thousand_subscribers_get_every_event_in_order(
    tmp_path: Path, fake_naver: Any, make_client: Any, session: aiohttp.ClientSession
) -> None:
    subscribers = 1000
    ensure_open_files(2 * subscribers + 256)  # both ends of every socket live in this process
    # Every subscriber comes from 127.0.0.1: lift the per-address stream limit.
    client: TestClient[Any, Any] = await make_client(
        replace(
            base_settings(tmp_path, fake_naver[1]),
            run_worker=False,
            max_streams_per_client=subscribers,
        )
    )
    store, hub = client.app[STORE], client.app[HUB]
    n = 50
    job_id = await create_job(store, [f"k{i}" for i in range(n)])
    ws_url = client.make_url(WS)

    async def subscribe() -> aiohttp.ClientWebSocketResponse:
        ws = await session.ws_connect(ws_url)
        await ws.send_json({"type": "subscribe", "jobId": job_id})
        return ws

    sockets: list[aiohttp.ClientWebSocketResponse] = []
    for _ in range(subscribers // 100):  # in steps the listen backlog can take
        sockets += await asyncio.gather(*(subscribe() for _ in range(100)))
    await wait_until(lambda: hub.stats()["subscribers"] == subscribers)
    readers = [asyncio.create_task(ws_ids(ws)) for ws in sockets]

    assert await store.claim_next(WORKER_ID, 0) is not None
    await write_results(store, job_id, n, "")
    async with asyncio.timeout(60):
        received = await asyncio.gather(*readers)
    everything = ids_between(1, n + 3)
    assert all(ids == everything for ids in received)
    assert hub.stats()["slowConsumersCut"] == 0
    async with session.get(client.make_url("/metrics")) as resp:
        metrics = await resp.text()
    delivered = subscribers * len(everything)
    assert f'doccount_events_delivered_total{{transport="ws"}} {delivered:.1f}' in metrics
    assert 'doccount_events_delivered_total{transport="sse"} 0.0' in metrics
    assert 'doccount_slow_subscribers_cut_total{transport="ws"} 0.0' in metrics
    assert f'doccount_subscribers{{transport="ws"}} {subscribers:.1f}' in metrics
    await asyncio.gather(*(ws.close() for ws in sockets))
    await wait_until(lambda: hub.stats()["streams"] == 0)


def small_buffer_socket(addr_info: Any) -> socket.socket:
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family, type_, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def test_a_peer_that_never_reads_again_is_aborted(
    tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    """With both ends' socket buffers at a few KB, a stall shows after a few hundred events: the
    polite close (4008, end of stream) cannot get through, so after close_timeout_s the
    connections are aborted; the clients find a prefix, then a broken connection."""
    settings = replace(
        base_settings(tmp_path, fake_naver[1]), run_worker=False, subscriber_queue_max=16
    )
    client: TestClient[Any, Any] = await make_client(settings)
    store, hub = client.app[STORE], client.app[HUB]
    hub.close_timeout_s = 0.2
    n = 1500  # the cut comes after ~450 (what the clients read ahead, and the queue)
    job_id = await create_job(store, [f"{i:05d}" for i in range(n)])
    url = client.make_url(EVENTS).with_query(jobId=job_id)
    connector = aiohttp.TCPConnector(limit=0, socket_factory=small_buffer_socket)
    async with aiohttp.ClientSession(connector=connector) as session:
        ws = await session.ws_connect(client.make_url(WS))
        await ws.send_json({"type": "subscribe", "jobId": job_id})
        sse = await session.get(url)
        await wait_until(lambda: hub.stats()["subscribers"] == 2)
        for stream in hub.streams():
            server_socket = stream.transport.get_extra_info("socket")  # type: ignore[attr-defined]
            server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

        assert await store.claim_next(WORKER_ID, 0) is not None
        await write_results(store, job_id, n, "가" * 300)
        await wait_until(lambda: hub.stats()["slowConsumersCut"] == 2)
        await wait_until(lambda: hub.stats()["streams"] == 0)
        # What /metrics exports, scraped from the app after these real cuts.
        async with session.get(client.make_url("/metrics")) as resp:
            metrics = await resp.text()
        for transport in ("sse", "ws"):
            assert f'doccount_slow_subscribers_cut_total{{transport="{transport}"}} 1.0' in metrics
            assert f'doccount_subscribers{{transport="{transport}"}} 0.0' in metrics

        everything = ids_between(1, n + 3)
        ws_got, ws_end = await ws_until_end(ws)
        sse_got, clean = await sse_until_end(sse)
        assert ws_end.type in (WSMsgType.CLOSED, WSMsgType.ERROR)  # no close frame got through
        assert not clean  # the chunked body was cut off
        for ids in (ws_got, sse_got):
            assert 1 <= len(ids) < len(everything)
            assert ids == everything[: len(ids)]
        async with session.get(url, headers={"Last-Event-ID": sse_got[-1]}) as resp:
            assert sse_got + await sse_ids(resp) == everything
