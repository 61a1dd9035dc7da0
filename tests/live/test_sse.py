"""SSE over a real socket, parsed by independent clients (httpx-sse, sseclient-py), so that our
own framing mistakes cannot hide behind our own parser."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import sseclient
from aiohttp.test_utils import TestClient
from httpx_sse import ServerSentEvent, aconnect_sse

from server.appkeys import HUB, STORE, WORKER
from server.model import JOBS_FEED
from tests.support.common import base_settings, wait_until
from tests.support.streams import Driver, SseBlocks, frames, log_of, submit

EVENTS = "/api/documents/events"


@pytest.fixture
async def client(tmp_path: Path, fake_naver: Any, make_client: Any) -> TestClient[Any, Any]:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        run_worker=False,
        categories=("blog",),
        progress_interval_s=0.0,  # a progress tick after every result but the last
    )
    made: TestClient[Any, Any] = await make_client(settings)
    return made


@pytest.fixture
async def http(client: TestClient[Any, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=str(client.make_url("")), timeout=10) as session:
        yield session


def parsed(events: list[ServerSentEvent]) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, type, payload), checking that ``event:`` and ``id:`` agree with the JSON."""
    out = []
    for ev in events:
        payload = json.loads(ev.data)
        assert payload["type"] == ev.event
        assert payload["id"] == ev.id
        out.append((ev.id, ev.event, payload))
    return out


async def read_all(
    http: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str] | None = None
) -> list[ServerSentEvent]:
    """Every event until the server ends the stream."""
    async with aconnect_sse(http, "GET", EVENTS, params=params, headers=headers or {}) as source:
        return [ev async for ev in source.aiter_sse()]


async def test_snapshot_then_every_event_until_completed(
    client: TestClient[Any, Any], http: httpx.AsyncClient
) -> None:
    job_id = await submit(client, ["맥북", "리뷰", "노트북"])
    status = (await (await client.get(f"/api/documents/status?jobId={job_id}")).json())["job"]
    async with aconnect_sse(http, "GET", EVENTS, params={"jobId": job_id}) as source:
        headers = source.response.headers
        assert headers["content-type"] == "text/event-stream"
        assert headers["cache-control"] == "no-cache"
        assert headers["x-accel-buffering"] == "no"
        events = source.aiter_sse()
        snapshot = await anext(events)
        assert (snapshot.event, snapshot.id, snapshot.retry) == ("snapshot", "1", 2000)
        assert json.loads(snapshot.data) == {
            "id": "1",
            "jobId": job_id,
            "type": "snapshot",
            "job": status,
        }
        assert await client.app[WORKER].run_until_idle() == [job_id]
        rest = [ev async for ev in events]  # ends by itself after the terminal status

    log = await log_of(client.app[STORE], job_id)
    assert [(e.id, e.type) for e in log] == [
        ("1", "status"),
        ("2", "status"),
        ("3", "result"),
        ("4", "progress"),
        ("5", "result"),
        ("6", "progress"),
        ("7", "result"),
        ("8", "status"),
    ]
    assert parsed(rest) == frames(log[1:])
    assert [ev.data for ev in rest] == [e.json for e in log[1:]]  # as appended, not re-encoded
    assert json.loads(rest[-1].data)["status"] == "completed"


async def test_resume_from_every_id_of_a_finished_job(
    client: TestClient[Any, Any], http: httpx.AsyncClient
) -> None:
    """sseclient-py parses the raw bytes: header and query resume alike give exactly the
    events after the id, then the end; from the terminal id, nothing but the end."""
    driver = await Driver.start(client, ["a", "b", "c"])
    await driver.claim()
    await driver.run_to_end()
    log = await log_of(client.app[STORE], driver.job_id)
    assert len(log) == 6
    for i, event in enumerate(log):
        if i % 2:
            resp = await client.get(
                EVENTS, params={"jobId": driver.job_id, "lastEventId": event.id}
            )
        else:
            resp = await client.get(
                EVENTS, params={"jobId": driver.job_id}, headers={"Last-Event-ID": event.id}
            )
        assert resp.status == 200
        raw = await resp.read()
        got = [(e.id, e.event, e.data) for e in sseclient.SSEClient([raw]).events()]
        assert got == [(e.id, e.type, e.json) for e in log[i + 1 :]]


async def test_header_resume_wins_over_the_url(
    client: TestClient[Any, Any], http: httpx.AsyncClient
) -> None:
    """A reconnecting EventSource keeps its first URL and sends the newer id as a header."""
    driver = await Driver.start(client, ["a"])
    await driver.claim()
    await driver.run_to_end()
    got = await read_all(http, {"jobId": driver.job_id, "lastEventId": "1"}, {"Last-Event-ID": "3"})
    assert [(e.id, e.event) for e in got] == [("4", "status")]


async def test_cut_at_every_position_of_a_live_job(
    client: TestClient[Any, Any], http: httpx.AsyncClient
) -> None:
    """Read one event, hang up while the next is written, resume by id; again and again."""
    driver = await Driver.start(client, ["a", "b", "c", "d"])
    writes = [driver.claim] + [driver.step] * 5
    received: list[ServerSentEvent] = []
    for write in writes:
        headers = {"Last-Event-ID": received[-1].id} if received else {}
        async with aconnect_sse(
            http, "GET", EVENTS, params={"jobId": driver.job_id}, headers=headers
        ) as source:
            received.append(await anext(source.aiter_sse()))
            await write()
    received += await read_all(http, {"jobId": driver.job_id}, {"Last-Event-ID": received[-1].id})
    log = await log_of(client.app[STORE], driver.job_id)
    assert [(e.id, e.event) for e in received] == [("1", "snapshot")] + [
        (e.id, e.type) for e in log[1:]
    ]
    assert [e.id for e in log] == ["1", "2", "3", "4", "5", "6", "7"]


async def test_late_subscriber_gets_the_whole_story_and_the_end(
    client: TestClient[Any, Any], http: httpx.AsyncClient
) -> None:
    job_id = await submit(client, ["a", "b"])
    await client.app[WORKER].run_until_idle()
    status = (await (await client.get(f"/api/documents/status?jobId={job_id}")).json())["job"]
    (snapshot,) = await read_all(http, {"jobId": job_id})
    assert snapshot.event == "snapshot" and snapshot.id == status["lastEventId"] == "6"
    assert json.loads(snapshot.data)["job"] == status
    assert status["status"] == "completed" and len(status["results"]) == 2

    story = await read_all(http, {"jobId": job_id}, {"Last-Event-ID": "1"})
    log = await log_of(client.app[STORE], job_id)
    assert parsed(story) == frames(log[1:])


@pytest.mark.parametrize(
    ("query", "headers", "status", "code"),
    [
        ({"jobId": "batch_1700000000000_AAAAAAAAAAAAAAAAAAAAAA"}, {}, 404, "job_not_found"),
        ({"jobId": "nope"}, {}, 400, "invalid_job_id"),
        ({}, {}, 400, "missing_job_id"),
        ({"jobs": "mine"}, {}, 400, "invalid_jobs"),
        ({"lastEventId": "abc"}, {}, 400, "invalid_event_id"),
        ({"lastEventId": "99"}, {}, 400, "invalid_event_id"),  # this log never held it
        ({"lastEventId": "a b"}, {}, 400, "invalid_event_id"),
        ({}, {"Last-Event-ID": "-1"}, 400, "invalid_event_id"),
    ],
)
async def test_refusals_are_json_before_any_stream(
    client: TestClient[Any, Any],
    query: dict[str, str],
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    job_id = await submit(client, ["a"])
    if "lastEventId" in query or headers:
        query = {"jobId": job_id, **query}
    resp = await client.get(EVENTS, params=query, headers=headers)
    assert resp.status == status
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["success"] is False and body["code"] == code and body["error"]


async def test_log_that_no_longer_reaches_back_sends_a_gap_snapshot(
    client: TestClient[Any, Any], http: httpx.AsyncClient, tmp_path: Path
) -> None:
    driver = await Driver.start(client, ["a", "b", "c"])
    await driver.claim()
    await driver.step()
    await driver.step()  # events 1..4
    db = sqlite3.connect(f"{tmp_path}/doccount.db")
    with db:
        db.execute("DELETE FROM events WHERE job_id = ? AND seq <= 3", (driver.job_id,))
    db.close()
    async with aconnect_sse(
        http, "GET", EVENTS, params={"jobId": driver.job_id}, headers={"Last-Event-ID": "1"}
    ) as source:
        events = source.aiter_sse()
        snapshot = await anext(events)
        await driver.step()
        await driver.step()
        rest = [ev async for ev in events]
    payload = json.loads(snapshot.data)
    assert (snapshot.event, snapshot.id, payload["gap"]) == ("snapshot", "4", True)
    assert payload["job"]["lastEventId"] == "4" and len(payload["job"]["results"]) == 2
    assert [(e.id, e.event) for e in rest] == [("5", "result"), ("6", "status")]


async def test_jobs_feed_lists_then_follows_and_resumes(
    client: TestClient[Any, Any], http: httpx.AsyncClient
) -> None:
    first = await submit(client, ["a"])
    listed = (await (await client.get("/api/documents/jobs")).json())["jobs"]
    async with aconnect_sse(http, "GET", EVENTS, params={"jobs": "all"}) as source:
        events = source.aiter_sse()
        jobs = await anext(events)
        assert (jobs.event, jobs.id) == ("jobs", "1")
        assert json.loads(jobs.data) == {"id": "1", "type": "jobs", "jobs": listed}
        second = await submit(client, ["b"])
        await client.app[WORKER].process_one()  # first: processing, completed
        live = [await anext(events) for _ in range(3)]
    feed = await log_of(client.app[STORE], JOBS_FEED)
    assert [(e.id, e.event) for e in live] == [(e.id, e.type) for e in feed[1:]]
    assert [
        (json.loads(e.data)["job"]["id"], json.loads(e.data)["job"]["status"]) for e in live
    ] == [
        (second, "pending"),
        (first, "processing"),
        (first, "completed"),
    ]
    assert [e.data for e in live] == [e.json for e in feed[1:]]

    # Resume while the second job runs: exactly what came after, and the feed never ends.
    await client.app[WORKER].process_one()
    async with aconnect_sse(
        http, "GET", EVENTS, params={"jobs": "all"}, headers={"Last-Event-ID": live[-1].id}
    ) as source:
        events = source.aiter_sse()
        resumed = [await anext(events) for _ in range(2)]
    assert [(e.id, json.loads(e.data)["job"]["status"]) for e in resumed] == [
        ("5", "processing"),
        ("6", "completed"),
    ]


async def test_idle_stream_gets_heartbeat_comments(
    tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    settings = replace(base_settings(tmp_path, fake_naver[1]), run_worker=False, heartbeat_s=0.05)
    client = await make_client(settings)
    job_id = await submit(client, ["a"])
    resp = await client.get(EVENTS, params={"jobId": job_id})
    blocks = SseBlocks(resp)
    first = await blocks.next()
    assert first is not None and first.event == "snapshot"
    assert await resp.content.readuntil(b"\n\n") == b": ping\n\n"
    assert await resp.content.readuntil(b"\n\n") == b": ping\n\n"
    resp.close()


async def test_a_client_that_leaves_frees_its_subscription_and_feed(
    tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        run_worker=False,
        heartbeat_s=0.05,  # a write to a gone client is how a quiet stream learns it left
        feed_block_s=0.05,
    )
    client = await make_client(settings)
    hub = client.app[HUB]
    job_id = await submit(client, ["a"])
    resp = await client.get(EVENTS, params={"jobId": job_id})
    assert (await SseBlocks(resp).next()) is not None
    await wait_until(lambda: hub.stats() == {**hub.stats(), "subscribers": 1, "streams": 1})
    resp.close()
    await wait_until(
        lambda: hub.stats() == {"streams": 0, "feeds": 0, "subscribers": 0, "slowConsumersCut": 0}
    )
