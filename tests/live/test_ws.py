"""The WebSocket over a real socket (aiohttp's client): many jobs on one socket, resume,
unsubscribe, the jobs feed, and bad frames answered without closing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from server import errors
from server.appkeys import HUB, STORE, WORKER
from server.model import JOBS_FEED
from tests.support.common import base_settings, wait_until
from tests.support.streams import Driver, frames, log_of, submit

WS = "/api/documents/ws"


@pytest.fixture
async def client(tmp_path: Path, fake_naver: Any, make_client: Any) -> TestClient[Any, Any]:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        run_worker=False,
        categories=("blog",),
        feed_block_s=0.05,
    )
    made: TestClient[Any, Any] = await make_client(settings)
    return made


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=10)
    assert msg.type is WSMsgType.TEXT, msg
    frame: dict[str, Any] = json.loads(msg.data)
    return frame


async def until_terminal(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    got = []
    while True:
        frame = await receive(ws)
        got.append(frame)
        if frame["type"] == "status" and frame["status"] in ("completed", "failed", "cancelled"):
            return got


def id_type(frames_: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f["id"], f["type"]) for f in frames_]


async def test_snapshot_live_and_terminal_end_the_subscription_not_the_socket(
    client: TestClient[Any, Any],
) -> None:
    hub = client.app[HUB]
    job_id = await submit(client, ["a", "b"])
    status = (await (await client.get(f"/api/documents/status?jobId={job_id}")).json())["job"]
    async with client.ws_connect(WS) as ws:
        await ws.send_json({"type": "subscribe", "jobId": job_id})
        assert await receive(ws) == {"id": "1", "jobId": job_id, "type": "snapshot", "job": status}
        await client.app[WORKER].run_until_idle()
        live = await until_terminal(ws)
        log = await log_of(client.app[STORE], job_id)
        assert [(f["id"], f["type"], f) for f in live] == frames(log[1:])
        await wait_until(lambda: hub.stats()["subscribers"] == 0)
        # The socket is still open and serves again: a late snapshot of the finished job.
        await ws.send_json({"type": "subscribe", "jobId": job_id})
        snapshot = await receive(ws)
        assert (snapshot["type"], snapshot["id"], snapshot["job"]["status"]) == (
            "snapshot",
            log[-1].id,
            "completed",
        )


async def test_many_jobs_on_one_socket(client: TestClient[Any, Any]) -> None:
    jobs = [await submit(client, [f"{n}-a", f"{n}-b"]) for n in range(3)]
    async with client.ws_connect(WS) as ws:
        for job_id in jobs:
            await ws.send_json({"type": "subscribe", "jobId": job_id})
        by_job: dict[str, list[dict[str, Any]]] = {j: [] for j in jobs}
        for _ in jobs:
            snapshot = await receive(ws)
            by_job[snapshot["jobId"]].append(snapshot)
        assert await client.app[WORKER].run_until_idle() == jobs
        finished = 0
        while finished < len(jobs):
            frame = await receive(ws)
            by_job[frame["jobId"]].append(frame)
            finished += frame["type"] == "status" and frame["status"] == "completed"
    for job_id in jobs:
        log = await log_of(client.app[STORE], job_id)
        got = by_job[job_id]
        assert got[0]["type"] == "snapshot" and got[0]["id"] == "1"
        assert [(f["id"], f["type"], f) for f in got[1:]] == frames(log[1:])


async def test_resume_from_every_id(client: TestClient[Any, Any]) -> None:
    driver = await Driver.start(client, ["a", "b", "c"])
    await driver.claim()
    await driver.run_to_end()
    log = await log_of(client.app[STORE], driver.job_id)
    async with client.ws_connect(WS) as ws:
        for i, event in enumerate(log[:-1]):
            await ws.send_json(
                {"type": "subscribe", "jobId": driver.job_id, "lastEventId": event.id}
            )
            assert [(f["id"], f["type"], f) for f in await until_terminal(ws)] == frames(
                log[i + 1 :]
            )
        # From the terminal id there is nothing more: the next frame is the answer to the next
        # request.
        await ws.send_json({"type": "subscribe", "jobId": driver.job_id, "lastEventId": log[-1].id})
        await ws.send_json({"type": "hello"})
        assert (await receive(ws))["code"] == "unknown_type"


async def test_cut_at_every_position_of_a_live_job(client: TestClient[Any, Any]) -> None:
    driver = await Driver.start(client, ["a", "b", "c"])
    writes = [driver.claim] + [driver.step] * 4
    received: list[dict[str, Any]] = []
    for write in writes:
        async with client.ws_connect(WS) as ws:
            subscribe: dict[str, Any] = {"type": "subscribe", "jobId": driver.job_id}
            if received:
                subscribe["lastEventId"] = received[-1]["id"]
            await ws.send_json(subscribe)
            received.append(await receive(ws))
            await write()
    async with client.ws_connect(WS) as ws:
        await ws.send_json(
            {"type": "subscribe", "jobId": driver.job_id, "lastEventId": received[-1]["id"]}
        )
        received += await until_terminal(ws)
    log = await log_of(client.app[STORE], driver.job_id)
    assert id_type(received) == [("1", "snapshot")] + [(e.id, e.type) for e in log[1:]]
    assert len(log) == 6


async def test_unsubscribe_stops_a_job_on_the_socket(client: TestClient[Any, Any]) -> None:
    hub = client.app[HUB]
    watched = await Driver.start(client, ["a", "b"])
    other = await submit(client, ["c"])
    async with client.ws_connect(WS) as ws:
        await ws.send_json({"type": "subscribe", "jobId": watched.job_id})
        assert (await receive(ws))["type"] == "snapshot"
        await ws.send_json({"type": "unsubscribe", "jobId": watched.job_id})
        await wait_until(lambda: hub.stats()["subscribers"] == 0)
        await watched.claim()
        await watched.step()
        # Nothing of the unsubscribed job comes between: the next frame answers the next request.
        await ws.send_json({"type": "subscribe", "jobId": other})
        nxt = await receive(ws)
        assert (nxt["type"], nxt["jobId"]) == ("snapshot", other)
        await ws.send_json({"type": "unsubscribe", "jobId": watched.job_id})
        assert await receive(ws) == {
            "type": "error",
            "code": "not_subscribed",
            "message": "구독 중이 아닙니다",
            "jobId": watched.job_id,
        }


async def test_jobs_feed_over_the_socket(client: TestClient[Any, Any]) -> None:
    first = await submit(client, ["a"])
    listed = (await (await client.get("/api/documents/jobs")).json())["jobs"]
    async with client.ws_connect(WS) as ws:
        await ws.send_json({"type": "subscribe", "jobs": "all"})
        assert await receive(ws) == {"id": "1", "type": "jobs", "jobs": listed}
        await client.app[WORKER].process_one()
        live = [await receive(ws) for _ in range(2)]
        feed = await log_of(client.app[STORE], JOBS_FEED)
        assert [(f["id"], f["type"], f) for f in live] == frames(feed[1:])
        assert [(f["job"]["id"], f["job"]["status"]) for f in live] == [
            (first, "processing"),
            (first, "completed"),
        ]
        await ws.send_json({"type": "unsubscribe", "jobs": "all"})
        await wait_until(lambda: client.app[HUB].stats()["subscribers"] == 0)
        await ws.send_json({"type": "subscribe", "jobs": "all", "lastEventId": "2"})
        assert id_type([await receive(ws)]) == [("3", "job")]


async def test_bad_frames_get_errors_and_the_socket_stays_open(
    client: TestClient[Any, Any],
) -> None:
    job_id = await submit(client, ["a"])
    unknown = "batch_1700000000000_AAAAAAAAAAAAAAAAAAAAAA"
    lid = {"type": "subscribe", "jobId": job_id}
    # Each frame with the catalogue entry whose code and message must come back, word for word.
    cases: list[tuple[str, errors.ErrorKind, str | None]] = [
        ("not json", errors.INVALID_JSON_FRAME, None),
        ("[1, 2]", errors.INVALID_FRAME, None),
        ('{"type": "hello"}', errors.UNKNOWN_TYPE, None),
        ('{"jobId": "x"}', errors.UNKNOWN_TYPE, None),
        ('{"type": "subscribe"}', errors.MISSING_JOB_ID, None),
        ('{"type": "subscribe", "jobId": "x"}', errors.INVALID_JOB_ID, "x"),
        (json.dumps({"type": "subscribe", "jobId": unknown}), errors.JOB_NOT_FOUND, unknown),
        (json.dumps({**lid, "lastEventId": "zz"}), errors.UNKNOWN_EVENT_ID, job_id),
        (json.dumps({**lid, "lastEventId": 1}), errors.INVALID_EVENT_ID, job_id),
        (json.dumps({**lid, "lastEventId": "42"}), errors.FOREIGN_EVENT_ID, job_id),
        ('{"type": "subscribe", "jobs": "mine"}', errors.INVALID_JOBS_FRAME, None),
        (json.dumps({"type": "unsubscribe", "jobId": job_id}), errors.NOT_SUBSCRIBED, job_id),
    ]
    async with client.ws_connect(WS) as ws:
        for text, kind, error_job in cases:
            await ws.send_str(text)
            got = await receive(ws)
            expected = {"type": "error", "code": kind.code, "message": kind.text()}
            if error_job is not None:
                expected["jobId"] = error_job
            assert got == expected, text
        await ws.send_bytes(b"\x00")
        got = await receive(ws)
        assert (got["code"], got["message"]) == (
            errors.BINARY_FRAME.code,
            errors.BINARY_FRAME.text(),
        )
        await ws.send_json({"type": "subscribe", "jobId": job_id})
        assert (await receive(ws))["type"] == "snapshot"


async def test_a_frame_over_the_size_limit_closes_with_1009(
    tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]), run_worker=False, max_ws_message_bytes=1024
    )
    client = await make_client(settings)
    async with client.ws_connect(WS) as ws:
        await ws.send_str("x" * 1025)
        msg = await ws.receive(timeout=10)
        assert msg.type is WSMsgType.CLOSE and msg.data == 1009


async def test_plain_get_is_a_json_error(client: TestClient[Any, Any]) -> None:
    resp = await client.get(WS)
    assert resp.status == 400
    assert (await resp.json())["success"] is False
