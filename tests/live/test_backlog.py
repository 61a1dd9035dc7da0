"""Every live connection's backlog is bounded in bytes (snapshots included), and a WebSocket's
client frames are rate-limited: a peer that never reads is cut (4008), not buffered for."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import replace

import pytest

from server.appkeys import HUB, STORE
from server.codec import dumps
from server.live.outbox import SLOW, Delivery, Outbox, ws_size
from server.live.ws import FrameRate
from tests.support.common import base_settings, wait_until
from tests.support.rawws import DeafSocket
from tests.support.streams import Driver, create_job

WS = "/api/documents/ws"


def delivery(n: int) -> Delivery:
    return Delivery(str(n), "result", dumps({"pad": "x" * 1000, "n": n}))


def bounded(max_bytes: int, unsent: list[int]) -> tuple[Outbox[None], list[int]]:
    cuts: list[int] = []
    box: Outbox[None] = Outbox(
        1000, lambda: cuts.append(1), max_bytes=max_bytes, size=ws_size, backlog=lambda: unsent[0]
    )
    return box, cuts


async def test_offer_past_the_byte_bound_cuts() -> None:
    size = ws_size(delivery(0))
    box, cuts = bounded(3 * size, [0])
    assert all(box.offer(None, delivery(i)) for i in range(3))
    assert box.queued_bytes == 3 * size
    assert box.offer(None, delivery(3)) is False
    assert (box.closed, cuts, box.queued_bytes, len(box)) == (SLOW, [1], 0, 0)


async def test_bytes_the_transport_holds_count_too() -> None:
    size = ws_size(delivery(0))
    unsent = [2 * size]
    box, cuts = bounded(3 * size, unsent)
    assert box.offer(None, delivery(0)) is True
    assert box.offer(None, delivery(1)) is False
    assert cuts == [1]


async def test_catch_up_over_the_byte_bound_cuts_instead_of_waiting() -> None:
    size = ws_size(delivery(0))
    box, cuts = bounded(3 * size, [0])
    box.catch_up_limit = 100  # the count would let it wait; the bytes must not
    for i in range(3):
        assert await box.put(None, delivery(i)) is True
    assert await asyncio.wait_for(box.put(None, delivery(3)), 1.0) is False
    assert (box.closed, cuts) == (SLOW, [1])


async def test_one_delivery_bigger_than_the_bound_goes_through_an_empty_connection() -> None:
    box, cuts = bounded(10, [0])
    assert await box.put(None, delivery(0)) is True
    assert box.queued_bytes == ws_size(delivery(0))
    taken = await box.take_all()
    assert taken is not None and len(taken) == 1 and box.queued_bytes == 0
    assert box.offer(None, delivery(1)) is True and cuts == []


@pytest.fixture
def settings(tmp_path, fake_naver):
    return replace(base_settings(tmp_path, fake_naver[1]), run_worker=False)


async def finished_job(client, results: int) -> str:
    store = client.app[STORE]
    keywords = [f"keyword {i} " + "x" * 100 for i in range(results)]
    job_id = await create_job(store, keywords)
    driver = Driver(store, job_id, keywords)
    await driver.claim()
    await driver.run_to_end()
    return job_id


async def test_resubscribing_to_a_big_job_without_reading_is_cut(settings, make_client):
    client = await make_client(
        replace(settings, max_stream_backlog_bytes=256 * 1024, ws_frames_per_s=1000.0)
    )
    job_id = await finished_job(client, 300)  # a ~45 KB snapshot
    hub = client.app[HUB]
    deaf = await DeafSocket.connect(client.server.host, client.server.port, WS)
    await wait_until(lambda: len(hub.streams()) == 1)
    # A slow network: the kernel takes a few KB, so the first snapshot already backs up.
    (conn,) = hub.streams()
    conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    frame = dumps({"type": "subscribe", "jobId": job_id})
    with contextlib.suppress(ConnectionError):
        for _ in range(200):
            await deaf.send(frame)
            if hub.cut_by_transport.get("ws"):
                break
    await wait_until(lambda: hub.cut_by_transport.get("ws") == 1)
    assert conn.outbox.closed == SLOW and conn.outbox.queued_bytes == 0
    deaf.close()
    await wait_until(lambda: not hub.streams())


async def test_subscribe_frames_are_rate_limited(settings, make_client):
    client = await make_client(replace(settings, ws_frames_per_s=0.001))
    async with client.ws_connect(WS) as ws:
        for _ in range(25):
            await ws.send_json(
                {"type": "subscribe", "jobId": "batch_1796000000000_AAAAAAAAAAAAAAAAAAAAAA"}
            )
        codes = [(await ws.receive_json(timeout=10))["code"] for _ in range(25)]
    assert codes == ["job_not_found"] * 20 + ["too_many_frames"] * 5
    assert client.app[HUB].cut_total == 0


def test_frame_rate_refills_at_its_rate() -> None:
    rate = FrameRate(per_s=4.0, now=100.0)
    assert [rate.allow(100.0) for _ in range(21)] == [True] * 20 + [False]
    assert rate.allow(100.125) is False  # half a token
    assert rate.allow(100.25) is True
    assert rate.allow(100.25) is False
    assert [rate.allow(200.0) for _ in range(21)] == [True] * 20 + [False]  # never past the burst
