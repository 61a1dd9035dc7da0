"""Shutdown with streams open: every SSE stream ends cleanly, every WebSocket gets 1001."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from server.appkeys import HUB
from tests.support.common import base_settings, wait_until
from tests.support.streams import SseBlocks, submit


async def test_shutdown_ends_sse_streams_and_closes_websockets_going_away(
    tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    client: TestClient[Any, Any] = await make_client(
        replace(base_settings(tmp_path, fake_naver[1]), run_worker=False)
    )
    hub = client.app[HUB]
    job_id = await submit(client, ["a"])
    async with aiohttp.ClientSession() as session:
        job_stream = await session.get(client.make_url("/api/documents/events?jobId=" + job_id))
        jobs_stream = await session.get(client.make_url("/api/documents/events?jobs=all"))
        streams = [SseBlocks(job_stream), SseBlocks(jobs_stream)]
        for blocks in streams:
            assert await blocks.next() is not None
        ws = await session.ws_connect(client.make_url("/api/documents/ws"))
        await ws.send_json({"type": "subscribe", "jobId": job_id})
        await ws.send_json({"type": "subscribe", "jobs": "all"})
        assert {json.loads((await ws.receive()).data)["type"] for _ in range(2)} == {
            "snapshot",
            "jobs",
        }
        await wait_until(lambda: hub.stats()["streams"] == 3)

        closing = asyncio.create_task(client.close())  # on_shutdown, then cleanup
        async with asyncio.timeout(10):
            for blocks in streams:
                assert await blocks.next() is None  # a clean end: no error, no truncated chunk
            msg = await ws.receive()
            await closing
        assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 1001, "server shutdown")
        assert hub.stats() == {"streams": 0, "feeds": 0, "subscribers": 0, "slowConsumersCut": 0}
        await ws.close()
