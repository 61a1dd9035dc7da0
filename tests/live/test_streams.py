"""Limits and guards on the live streams: open streams per client, WebSocket origin and frame
size, the token in the query, and the stream metrics."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from server.api.security import STREAM_SLOTS
from server.appkeys import WORKER
from server.client.api import SseParser, sse_lines
from server.codec import loads
from tests.api.test_ops import scrape
from tests.support.common import base_settings, wait_until

EVENTS = "/api/documents/events"
WS = "/api/documents/ws"
TOO_MANY = {
    "success": False,
    "error": "열린 스트림이 너무 많습니다 (주소당 최대 2개). "
    "사용하지 않는 연결을 닫고 다시 시도하세요",
    "code": "too_many_streams",
}


@pytest.fixture
def settings(tmp_path, fake_naver):
    # A short heartbeat: the server notices a closed SSE client at its next write.
    return replace(base_settings(tmp_path, fake_naver[1]), run_worker=False, heartbeat_s=0.05)


async def test_sse_and_websocket_share_the_per_client_stream_limit(settings, make_client):
    client = await make_client(replace(settings, max_streams_per_client=2))
    sse = await client.get(f"{EVENTS}?jobs=all")
    assert sse.status == 200
    ws = await client.ws_connect(WS)
    resp = await client.get(f"{EVENTS}?jobs=all")
    assert (resp.status, resp.headers["Retry-After"]) == (429, "5")
    assert await resp.json() == TOO_MANY
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(WS)
    assert refused.value.status == 429
    m = await scrape(client)
    assert m[("doccount_subscribers", (("transport", "sse"),))] == 1
    assert m[("doccount_subscribers", (("transport", "ws"),))] == 1

    await ws.close()
    slots = client.app[STREAM_SLOTS]
    await wait_until(lambda: slots.total() == 1)
    again = await client.get(f"{EVENTS}?jobs=all")
    assert again.status == 200
    sse.close()
    again.close()
    await wait_until(lambda: slots.total() == 0)
    m = await scrape(client)
    assert m[("doccount_subscribers", (("transport", "sse"),))] == 0


async def test_websocket_origin_must_be_same_or_allowed(settings, make_client):
    client = await make_client(replace(settings, cors_origins=("https://dash.example",)))
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(WS, headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    own = f"http://{client.server.host}:{client.server.port}"
    for origin in (own, "https://dash.example"):
        ws = await client.ws_connect(WS, headers={"Origin": origin})
        await ws.close()
    ws = await client.ws_connect(WS)  # no Origin: not a browser
    await ws.close()


async def test_streams_take_the_api_token_in_the_query_only_when_allowed(settings, make_client):
    """The way before stream tokens, kept for a release behind --allow-token-in-url."""
    client = await make_client(replace(settings, api_token="api-token", allow_token_in_url=True))
    assert (await client.get(f"{EVENTS}?jobs=all")).status == 401
    resp = await client.get(f"{EVENTS}?jobs=all&token=api-token")
    assert resp.status == 200
    resp.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(WS)
    assert refused.value.status == 401
    for wrong in (f"{WS}?token=wrong-token", f"{WS}?token="):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(wrong)
        assert refused.value.status == 401, wrong
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(WS, headers={"Authorization": "Bearer wrong-token"})
    assert refused.value.status == 401
    ws = await client.ws_connect(f"{WS}?token=api-token")
    await ws.send_json({"type": "subscribe", "jobs": "all"})
    assert (await ws.receive_json(timeout=10))["type"] == "jobs"  # the feed's snapshot
    await ws.close()
    # A non-browser client may send the token as a Bearer header on the upgrade instead.
    ws = await client.ws_connect(WS, headers={"Authorization": "Bearer api-token"})
    await ws.send_json({"type": "subscribe", "jobs": "all"})
    assert (await ws.receive_json(timeout=10))["type"] == "jobs"  # the feed's snapshot
    await ws.close()
    # Only streams: a status poll still wants the header.
    resp = await client.get(
        "/api/documents/status?jobId=batch_1700000000000_AAAAAAAAAAAAAAAAAAAAAA&token=api-token"
    )
    assert (resp.status, (await resp.json())["code"]) == (401, "token_in_url")


async def read_until_terminal(resp: Any) -> list[dict[str, Any]]:
    parser, events = SseParser(), []
    async for line in sse_lines(resp.content):
        event = parser.feed(line)
        if event is None:
            continue
        events.append(loads(event.data))
        if events[-1]["type"] == "status" and events[-1]["status"] == "completed":
            return events
    raise AssertionError("stream ended before the job did")


async def test_events_delivered_are_counted_exactly(settings, make_client):
    client = await make_client(settings)
    job_id = (
        await (
            await client.post("/api/documents/batch", json={"keywords": ["맥북", "리뷰"]})
        ).json()
    )["jobId"]
    resp = await client.get(f"{EVENTS}?jobId={job_id}")
    assert resp.status == 200
    await client.app[WORKER].run_until_idle()
    events = await read_until_terminal(resp)
    # snapshot, processing, two results, completed
    assert [e["type"] for e in events] == ["snapshot", "status", "result", "result", "status"]
    m = await scrape(client)
    assert m[("doccount_events_delivered_total", (("transport", "sse"),))] == 5
    assert m[("doccount_events_delivered_total", (("transport", "ws"),))] == 0
    assert m[("doccount_slow_subscribers_cut_total", (("transport", "sse"),))] == 0
