"""Stream tokens: job-scoped, signed, short-lived; accepted by SSE, WebSocket and status for
their job only; the API token itself refused in a URL; never in a log line."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from server.api import streamtokens
from server.logs import RedactSecrets
from server.model import JOBS_FEED

TOKEN = "api-token-for-streams"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EVENTS = "/api/documents/events"
WS = "/api/documents/ws"


@pytest.fixture
async def client(settings, make_client):
    return await make_client(replace(settings, api_token=TOKEN, run_worker=False))


async def create(client: Any, keywords: list[str] | None = None) -> dict[str, Any]:
    resp = await client.post(
        "/api/documents/batch", json={"keywords": keywords or ["맥북"]}, headers=AUTH
    )
    body: dict[str, Any] = await resp.json()
    assert resp.status == 200, body
    return body


async def status_code(resp: Any) -> tuple[int, str | None]:
    if resp.headers["Content-Type"].startswith("application/json"):
        body = await resp.json()
        return resp.status, body.get("code")
    resp.close()
    return resp.status, None


async def test_a_batch_answers_a_stream_token_for_its_job(client):
    body = await create(client)
    token, expires_ms = body["streamToken"], body["streamTokenExpiresAt"]
    assert streamtokens.verify(TOKEN, token) == body["jobId"]
    assert TOKEN not in token
    now_ms = int(time.time() * 1000)
    assert now_ms + 3_500_000 < expires_ms <= now_ms + 3_600_000  # the default hour


async def test_no_stream_token_without_an_api_token(settings, make_client):
    client = await make_client(replace(settings, run_worker=False))
    body = await (await client.post("/api/documents/batch", json={"keywords": ["a"]})).json()
    assert "streamToken" not in body
    resp = await client.post(f"/api/documents/jobs/{body['jobId']}/stream-token")
    assert await status_code(resp) == (400, "stream_tokens_disabled")


async def test_sse_and_status_accept_it_for_their_job_only(client):
    mine, other = await create(client), await create(client)
    token, job_id = mine["streamToken"], mine["jobId"]
    resp = await client.get(f"{EVENTS}?jobId={job_id}&token={token}")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    resp.close()
    resp = await client.get("/api/documents/status", params={"jobId": job_id, "token": token})
    assert resp.status == 200 and (await resp.json())["job"]["id"] == job_id
    bearer = {"Authorization": f"Bearer {token}"}
    resp = await client.get("/api/documents/status", params={"jobId": job_id}, headers=bearer)
    assert resp.status == 200
    refused = [
        await client.get(f"{EVENTS}?jobId={other['jobId']}&token={token}"),
        await client.get(f"{EVENTS}?jobs=all&token={token}"),
        await client.get("/api/documents/status", params={"jobId": other["jobId"], "token": token}),
        await client.get("/api/documents/jobs", headers=bearer),
        await client.delete(f"/api/documents/jobs/{job_id}", headers=bearer),
        await client.post("/api/documents/batch", json={"keywords": ["x"]}, headers=bearer),
    ]
    assert [await status_code(r) for r in refused] == [(403, "stream_token_scope")] * 6


async def test_websocket_subscribes_to_its_job_only(client):
    mine, other = await create(client), await create(client)
    ws = await client.ws_connect(f"{WS}?token={mine['streamToken']}")
    try:
        await ws.send_json({"type": "subscribe", "jobId": other["jobId"]})
        frame = await ws.receive_json(timeout=10)
        assert (frame["type"], frame["code"], frame["jobId"]) == (
            "error",
            "stream_token_scope",
            other["jobId"],
        )
        await ws.send_json({"type": "subscribe", "jobs": "all"})
        frame = await ws.receive_json(timeout=10)
        assert (frame["type"], frame["code"]) == ("error", "stream_token_scope")
        await ws.send_json({"type": "subscribe", "jobId": mine["jobId"]})
        frame = await ws.receive_json(timeout=10)
        assert (frame["type"], frame["jobId"]) == ("snapshot", mine["jobId"])
    finally:
        await ws.close()


async def test_the_api_token_in_a_url_is_refused(client):
    job_id = (await create(client))["jobId"]
    resp = await client.get(f"{EVENTS}?jobId={job_id}&token={TOKEN}")
    body = await resp.json()
    assert (resp.status, body["code"]) == (401, "token_in_url")
    assert TOKEN not in body["error"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(f"{WS}?token={TOKEN}")
    assert refused.value.status == 401


async def test_expired_forged_and_foreign_tokens_are_refused(client):
    job_id = (await create(client))["jobId"]
    expired, _ = streamtokens.issue(TOKEN, job_id, ttl_s=-1)
    forged, _ = streamtokens.issue("another-servers-token", job_id, ttl_s=60)
    prefix, _, exp, mac = streamtokens.issue(TOKEN, job_id, ttl_s=60)[0].split(".")
    other_scope = ".".join([prefix, streamtokens._b64(JOBS_FEED.encode()), exp, mac])
    for token in (expired, forged, other_scope, "st1.garbage"):
        resp = await client.get(f"{EVENTS}?jobId={job_id}&token={token}")
        assert await status_code(resp) == (401, "unauthorized"), token


async def test_a_token_is_renewed_with_itself_or_the_api_token(client):
    mine, other = await create(client), await create(client)
    url = f"/api/documents/jobs/{mine['jobId']}/stream-token"
    resp = await client.post(url, headers={"Authorization": f"Bearer {mine['streamToken']}"})
    renewed = await resp.json()
    assert resp.status == 200 and renewed["jobId"] == mine["jobId"]
    assert streamtokens.verify(TOKEN, renewed["streamToken"]) == mine["jobId"]
    resp = await client.post(url, headers=AUTH)
    assert resp.status == 200
    resp = await client.post(url, headers={"Authorization": f"Bearer {other['streamToken']}"})
    assert await status_code(resp) == (403, "stream_token_scope")
    resp = await client.post(
        "/api/documents/jobs/batch_1700000000000_AAAAAAAAAAAAAAAAAAAAAA/stream-token", headers=AUTH
    )
    assert await status_code(resp) == (404, "job_not_found")


async def test_the_jobs_feed_has_its_own_token(client):
    resp = await client.post("/api/documents/stream-token", json={"jobs": "all"}, headers=AUTH)
    feed = await resp.json()
    assert streamtokens.verify(TOKEN, feed["streamToken"]) == JOBS_FEED
    resp = await client.get(f"{EVENTS}?jobs=all&token={feed['streamToken']}")
    assert resp.status == 200
    resp.close()
    job_id = (await create(client))["jobId"]
    resp = await client.get(f"{EVENTS}?jobId={job_id}&token={feed['streamToken']}")
    assert await status_code(resp) == (403, "stream_token_scope")
    resp = await client.post("/api/documents/stream-token", json={"jobId": job_id}, headers=AUTH)
    assert streamtokens.verify(TOKEN, (await resp.json())["streamToken"]) == job_id
    resp = await client.post("/api/documents/stream-token", json=["x"], headers=AUTH)
    assert await status_code(resp) == (400, "invalid_body")


def test_logs_never_show_a_stream_token() -> None:
    token, _ = streamtokens.issue(TOKEN, "batch_1700000000000_AAAAAAAAAAAAAAAAAAAAAA", 60)
    record = logging.LogRecord(
        "aiohttp.access",
        logging.INFO,
        "x",
        1,
        "GET /api/documents/events?token=%s 200",
        (token,),
        None,
    )
    RedactSecrets([]).filter(record)  # even on a server with no other secret
    assert record.getMessage() == "GET /api/documents/events?token=st1.*** 200"
