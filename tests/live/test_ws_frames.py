"""WebSocket frames the docs promise beyond the happy path: a gap snapshot when the log no
longer reaches back (a job's, and the jobs feed's), too many subscriptions on one socket, the
store going away under a subscribe, and the server shutting down."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from server.appkeys import HUB, WORKER
from server.model import JOBS_FEED
from tests.support.common import base_settings
from tests.support.redis_server import require_redis, start_on_a_free_port
from tests.support.streams import Driver, submit

WS = "/api/documents/ws"


@pytest.fixture
async def client(tmp_path: Path, fake_naver: Any, make_client: Any) -> TestClient[Any, Any]:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        run_worker=False,
        categories=("blog",),
        feed_block_s=0.05,
        max_streams_per_client=3,
    )
    made: TestClient[Any, Any] = await make_client(settings)
    return made


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=10)
    assert msg.type is WSMsgType.TEXT, msg
    frame: dict[str, Any] = json.loads(msg.data)
    return frame


def forget_events(tmp_path: Path, key: str, through_seq: int) -> None:
    """What retention does to an old log: its first events are gone."""
    db = sqlite3.connect(f"{tmp_path}/doccount.db")
    with db:
        db.execute("DELETE FROM events WHERE job_id = ? AND seq <= ?", (key, through_seq))
    db.close()


async def test_a_job_log_that_no_longer_reaches_back_sends_a_gap_snapshot(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    driver = await Driver.start(client, ["a", "b", "c"])
    await driver.claim()
    await driver.step()
    await driver.step()  # events 1..4
    forget_events(tmp_path, driver.job_id, 3)
    async with client.ws_connect(WS) as ws:
        await ws.send_json({"type": "subscribe", "jobId": driver.job_id, "lastEventId": "1"})
        snapshot = await receive(ws)
        assert (snapshot["type"], snapshot["id"], snapshot["gap"]) == ("snapshot", "4", True)
        assert snapshot["jobId"] == driver.job_id
        assert [r["index"] for r in snapshot["job"]["results"]] == [0, 1]
        await driver.step()
        await driver.step()
        rest = [await receive(ws) for _ in range(2)]
        assert [(f["id"], f["type"]) for f in rest] == [("5", "result"), ("6", "status")]
        assert rest[1]["status"] == "completed"


async def test_the_jobs_feed_that_no_longer_reaches_back_sends_jobs_with_gap(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    first = await submit(client, ["a"])
    await client.app[WORKER].process_one()  # feed: 1 pending, 2 processing, 3 completed
    second = await submit(client, ["b"])  # 4 pending
    forget_events(tmp_path, JOBS_FEED, 3)
    async with client.ws_connect(WS) as ws:
        await ws.send_json({"type": "subscribe", "jobs": "all", "lastEventId": "1"})
        jobs = await receive(ws)
        assert (jobs["type"], jobs["id"], jobs["gap"]) == ("jobs", "4", True)
        assert [(j["id"], j["status"]) for j in jobs["jobs"]] == [
            (second, "pending"),
            (first, "completed"),
        ]
        await client.app[WORKER].process_one()
        live = [await receive(ws) for _ in range(2)]
        assert [(f["id"], f["job"]["id"], f["job"]["status"]) for f in live] == [
            ("5", second, "processing"),
            ("6", second, "completed"),
        ]
        # Without a gap, no such field: resuming from a held id continues plainly.
        await ws.send_json({"type": "unsubscribe", "jobs": "all"})
        await ws.send_json({"type": "subscribe", "jobs": "all", "lastEventId": "5"})
        again = await receive(ws)
        assert (again["id"], again["type"], "gap" in again) == ("6", "job", False)


async def test_too_many_subscriptions_on_one_socket_is_an_error_frame(
    client: TestClient[Any, Any],
) -> None:
    jobs = [await submit(client, [f"k{i}"]) for i in range(4)]
    async with client.ws_connect(WS) as ws:
        for job_id in jobs[:3]:
            await ws.send_json({"type": "subscribe", "jobId": job_id})
            assert (await receive(ws))["type"] == "snapshot"
        await ws.send_json({"type": "subscribe", "jobId": jobs[3]})
        assert await receive(ws) == {
            "type": "error",
            "code": "too_many_subscriptions",
            "message": "한 연결에서 최대 3개까지 구독할 수 있습니다",
            "jobId": jobs[3],
        }
        # The socket stays open; subscribing again to one already held is not a fourth.
        await ws.send_json({"type": "subscribe", "jobId": jobs[0]})
        assert (await receive(ws))["type"] == "snapshot"
        await ws.send_json({"type": "unsubscribe", "jobId": jobs[1]})
        await ws.send_json({"type": "subscribe", "jobId": jobs[3]})
        snapshot = await receive(ws)
        assert (snapshot["type"], snapshot["jobId"]) == ("snapshot", jobs[3])


async def test_the_store_going_away_under_a_subscribe_is_a_store_unavailable_frame(
    tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    require_redis()
    redis = start_on_a_free_port(tmp_path / "redis")  # its own: this test stops it
    try:
        settings = base_settings(tmp_path, fake_naver[1], store_url=redis.url, run_worker=False)
        client = await make_client(settings)
        job_id = await submit(client, ["a"])
        async with client.ws_connect(WS) as ws:
            await ws.send_json({"type": "subscribe", "jobId": job_id})
            assert (await receive(ws))["type"] == "snapshot"
            redis.kill()
            await ws.send_json({"type": "unsubscribe", "jobId": job_id})
            await ws.send_json({"type": "subscribe", "jobId": job_id})
            assert await receive(ws) == {
                "type": "error",
                "code": "store_unavailable",
                "message": "저장소에 연결할 수 없습니다. 다시 구독하세요",
                "jobId": job_id,
            }
            # The socket stays open and still answers.
            await ws.send_json({"type": "nonsense"})
            assert (await receive(ws))["code"] == "unknown_type"
    finally:
        redis.kill()


async def test_shutting_down_closes_sockets_and_refuses_new_ones(
    client: TestClient[Any, Any],
) -> None:
    job_id = await submit(client, ["a"])
    ws = await client.ws_connect(WS)
    await ws.send_json({"type": "subscribe", "jobId": job_id})
    assert (await receive(ws))["type"] == "snapshot"
    await client.app[HUB].shutdown()  # what the app's on_shutdown runs
    msg = await ws.receive(timeout=10)
    assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 1001, "server shutdown")
    await ws.close()
    # Until the server has stopped, a new socket or stream is refused in JSON, with a retry hint.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(WS)
    assert refused.value.status == 503
    resp = await client.get(f"/api/documents/events?jobId={job_id}")
    assert resp.status == 503
    assert await resp.json() == {
        "success": False,
        "error": "서버가 종료 중입니다. 잠시 후 다시 연결하세요",
        "code": "shutting_down",
    }
