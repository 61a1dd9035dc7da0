"""What an idle stream holds on the server (issue 15: memory per connection): no task of ours,
and no task, frame or connection state of aiohttp's either (its connection is handed over);
one heartbeat timer for every stream; and a stream
that wakes up still gets everything, in order, through the pump that exists only while it has a
backlog."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.api.capacity import OPEN_REQUESTS
from server.api.security import STREAM_SLOTS
from server.appkeys import HUB, WORKER
from tests.support.common import base_settings, wait_until
from tests.support.streams import submit

EVENTS = "/api/documents/events"
WS = "/api/documents/ws"


@pytest.fixture
def settings(tmp_path: Path, fake_naver: Any) -> Any:
    return replace(base_settings(tmp_path, fake_naver[1]), run_worker=False, heartbeat_s=0.05)


def frames_of(task: asyncio.Task[Any]) -> list[str]:
    """The suspended coroutine frames of ``task``, outermost first, as ``file:function``."""
    names = []
    coro: Any = task.get_coro()
    while coro is not None and hasattr(coro, "cr_code"):
        names.append(f"{coro.cr_code.co_filename}:{coro.cr_code.co_qualname}")
        coro = coro.cr_await
    return names


def our_tasks() -> list[str]:
    """Tasks of server/live per connection (pumps, keep-alive loops, catch-up), by coroutine
    name; not the feed's, one per watched log whatever the number of subscribers."""
    names = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and "/server/live/" in code.co_filename:
            if code.co_qualname == "Feed._run":
                continue
            names.append(code.co_qualname)
    return names


def stream_handler_tasks() -> list[asyncio.Task[Any]]:
    """aiohttp's request tasks that are in one of our stream handlers right now."""
    found = []
    for task in asyncio.all_tasks():
        frames = frames_of(task)
        if any(f.endswith((":stream_events", ":websocket")) for f in frames):
            found.append(task)
    return found


async def test_idle_streams_hold_no_task_and_no_frame(settings, make_client) -> None:
    # The default heartbeat (a short one would close loaded clients' sockets for late pongs);
    # the SSE beat is fired by hand below.
    client = await make_client(replace(settings, heartbeat_s=15.0))
    hub = client.app[HUB]
    job_id = await submit(client, ["a"])
    sse = [await client.get(EVENTS, params={"jobId": job_id}) for _ in range(3)]
    sockets = []
    for _ in range(3):
        ws = await client.ws_connect(WS)
        await ws.send_json({"type": "subscribe", "jobId": job_id})
        assert (await ws.receive_json(timeout=10))["type"] == "snapshot"
        sockets.append(ws)
    for resp in sse:
        assert (await resp.content.readuntil(b"\n\n")).startswith(b"retry: 2000\nid: ")
    await wait_until(lambda: hub.stats()["subscribers"] == 6)
    await wait_until(lambda: not our_tasks())
    # Quiet: no pump, no ping task, no catch-up task left, for any of the six.
    assert our_tasks() == []
    # Every stream's connection is the stream's own: no handler task or frame, and aiohttp's
    # server knows none of them (the client's keep-alive connection at most).
    assert stream_handler_tasks() == []
    assert client.server.runner.server is not None
    assert len(client.server.runner.server.connections) <= 1
    assert hub.handed_over() == 6
    # One timer for every stream.
    assert len(hub.heartbeat.members) == 6
    assert client.app[OPEN_REQUESTS].open == 6
    hub.heartbeat._tick()  # what the timer does every heartbeat_s
    for resp in sse:
        assert await resp.content.readuntil(b"\n\n") == b": ping\n\n"
    for resp in sse:
        resp.close()
    for ws in sockets:
        await ws.close()
    await wait_until(lambda: hub.stats()["streams"] == 0 and not hub.heartbeat.members)
    await wait_until(lambda: client.app[OPEN_REQUESTS].open == 0)
    assert client.app[STREAM_SLOTS].total() == 0


async def test_a_quiet_stream_wakes_for_a_job_and_gets_every_event_in_order(
    settings, make_client
) -> None:
    """The pump is started by what is queued and ends when the outbox is empty: across many
    such starts nothing is lost, repeated or reordered, on either transport."""
    # The default heartbeat: a 50 ms one leaves a loaded client 25 ms to answer a ping.
    client = await make_client(replace(settings, heartbeat_s=15.0))
    keywords = [f"k{i}" for i in range(30)]
    job_id = await submit(client, keywords)
    sse = await client.get(EVENTS, params={"jobId": job_id})
    ws = await client.ws_connect(WS)
    await ws.send_json({"type": "subscribe", "jobId": job_id})
    await wait_until(lambda: client.app[HUB].stats()["subscribers"] == 2)
    await client.app[WORKER].process_one()

    ws_events = []
    while True:
        frame = await ws.receive_json(timeout=10)
        ws_events.append(frame)
        if frame["type"] == "status" and frame["status"] == "completed":
            break
    body = (await asyncio.wait_for(sse.content.read(), 10)).decode()
    blocks = [b for b in body.split("\n\n") if b and not b.startswith(":")]
    sse_events = [
        json.loads(line[6:]) for b in blocks for line in b.split("\n") if line[:6] == "data: "
    ]
    assert [e["type"] for e in sse_events] == [e["type"] for e in ws_events]
    results = [e["result"]["keyword"] for e in sse_events if e["type"] == "result"]
    assert results == keywords
    assert sse_events[-1]["status"] == "completed"
    await ws.close()


async def test_a_stream_refused_by_a_check_holds_nothing(settings, make_client) -> None:
    """The checks before a stream runs are the middlewares' (frameless for streams): a refusal
    is the catalogue's JSON and leaves no slot or open request behind."""
    client = await make_client(replace(settings, api_token="secret"))
    resp = await client.get(EVENTS, params={"jobs": "all"})
    assert resp.status == 401
    assert (await resp.json())["code"] == "unauthorized"
    bad = await client.get(
        EVENTS, params={"jobId": "nope"}, headers={"Authorization": "Bearer secret"}
    )
    assert bad.status == 400 and (await bad.json())["success"] is False
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(WS)
    assert refused.value.status == 401
    assert client.app[STREAM_SLOTS].total() == 0
    assert client.app[OPEN_REQUESTS].open == 0
