"""The smaller holes of a network-facing service, each closed: huge resume ids, invisible
keywords, a job id with a trailing newline, the WebSocket size limit's edge, control characters
in the log, a job that vanishes under its watchers, a database file deleted under the server."""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.appkeys import SETTINGS
from server.logs import configure_logging
from server.settings import Settings
from tests.support.common import base_settings
from tests.support.streams import SseBlocks, submit

EVENTS = "/api/documents/events"
WS = "/api/documents/ws"
HUGE_ID = "9223372036854775808"  # 2**63: past SQLite's integers


@pytest.fixture
async def client(tmp_path, fake_naver, make_client):
    """The checks here are made before the store is asked: one engine is enough."""
    settings = replace(base_settings(tmp_path, fake_naver[1]), run_worker=False)
    return await make_client(settings)


@pytest.fixture
async def watching_client(tmp_path, fake_naver, make_client, store_url):
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        store_url=store_url,
        run_worker=False,
        feed_block_s=0.1,
        heartbeat_s=0.2,
    )
    return await make_client(settings)


async def test_a_resume_id_past_64_bits_is_a_400_not_a_500(client):
    job_id = await submit(client, ["a"])
    for headers, query in (({"Last-Event-ID": HUGE_ID}, ""), ({}, f"&lastEventId={HUGE_ID}")):
        resp = await client.get(f"{EVENTS}?jobId={job_id}{query}", headers=headers)
        body = await resp.json()
        assert (resp.status, body["code"]) == (400, "invalid_event_id")
    resp = await client.get(f"{EVENTS}?jobs=all", headers={"Last-Event-ID": HUGE_ID})
    assert (resp.status, (await resp.json())["code"]) == (400, "invalid_event_id")
    async with client.ws_connect(WS) as ws:
        await ws.send_json({"type": "subscribe", "jobId": job_id, "lastEventId": HUGE_ID})
        frame = await ws.receive_json(timeout=10)
    assert (frame["type"], frame["code"], frame["jobId"]) == ("error", "invalid_event_id", job_id)


@pytest.mark.parametrize("keyword", ["\u200f", "\u200b\u200b", "\ufeff", " \u200b ", "\x00"])
async def test_invisible_keywords_are_empty(client, keyword):
    resp = await client.post("/api/documents/batch", json={"keywords": ["ok", keyword]})
    assert resp.status == 400
    assert await resp.json() == {
        "success": False,
        "error": "2번째 키워드가 비어 있습니다",
        "code": "empty_keyword",
    }


async def test_a_visible_keyword_with_an_invisible_mark_is_kept(client):
    resp = await client.post("/api/documents/batch", json={"keywords": ["맥\u200b북"]})
    assert resp.status == 200


async def test_a_job_id_with_a_trailing_newline_is_malformed(client):
    job_id = await submit(client, ["a"])
    resp = await client.get(f"/api/documents/status?jobId={job_id}%0A")
    assert (resp.status, (await resp.json())["code"]) == (400, "invalid_job_id")
    resp = await client.delete(f"/api/documents/jobs/{job_id}%0A")
    assert (resp.status, (await resp.json())["code"]) == (400, "invalid_job_id")


@pytest.mark.timeout(30)
async def test_a_job_that_vanishes_ends_its_streams_with_job_not_found(watching_client, store_url):
    """Redis restarted without persistence (FLUSHALL here), or the rows gone: watchers hear it."""
    client = watching_client
    job_id = await submit(client, ["a", "b"])
    sse = await client.get(f"{EVENTS}?jobId={job_id}")
    blocks = SseBlocks(sse)
    assert (await blocks.next()).event == "snapshot"
    ws = await client.ws_connect(WS)
    await ws.send_json({"type": "subscribe", "jobId": job_id})
    assert (await ws.receive_json(timeout=10))["type"] == "snapshot"

    if store_url.startswith("redis"):
        import redis.asyncio as aioredis

        r = aioredis.from_url(store_url)
        await r.flushdb()
        await r.aclose()
    else:
        path = store_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            db.execute("DELETE FROM jobs")

    frame = await ws.receive_json(timeout=10)
    assert (frame["type"], frame["code"], frame["jobId"]) == ("error", "job_not_found", job_id)
    block = await blocks.next()
    assert block is not None and block.event == "stream_error"
    assert block.json()["code"] == "job_not_found"
    assert await blocks.next() is None  # the stream ended
    await ws.close()


# --- the WebSocket size limit's edge ---------------------------------------------------------


async def test_a_frame_of_exactly_the_limit_is_served_one_byte_more_closes(
    tmp_path, fake_naver, make_client
):
    settings = replace(base_settings(tmp_path, fake_naver[1]), run_worker=False)
    client = await make_client(settings)
    limit = client.app[SETTINGS].max_ws_message_bytes
    assert limit == 64 * 1024

    def frame(size: int) -> str:
        head = '{"type": "subscribe", "jobs": "all", "pad": "'
        return head + "x" * (size - len(head) - 2) + '"}'

    async with client.ws_connect(WS) as ws:
        await ws.send_str(frame(limit))
        assert (await ws.receive_json(timeout=10))["type"] == "jobs"
        await ws.send_str(frame(limit + 1))
        msg = await ws.receive(timeout=10)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


# --- the text log ----------------------------------------------------------------------------


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], level = saved
    root.setLevel(level)


def test_control_characters_in_messages_are_escaped(capsys, restore_root_logging):
    configure_logging(Settings())
    log = logging.getLogger("doccount.batch")
    log.warning("[배치] 키워드 %s 실패", "\x1b[31m빨강\x00\r\n가짜 줄\u202e")
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and "\x1b" not in line and "\x00" not in line
    assert line.rstrip("\n").endswith(
        "[배치] 키워드 \\u001b[31m빨강\\u0000\\u000d\\u000a가짜 줄\\u202e 실패"
    )


# --- the database file deleted under a running server ----------------------------------------


async def test_a_deleted_database_file_is_not_ready_and_acknowledges_nothing(
    tmp_path: Path, fake_naver: Any, make_client: Any
):
    settings = replace(base_settings(tmp_path, fake_naver[1]), run_worker=False)
    client = await make_client(settings)
    assert (await client.get("/readyz")).status == 200
    assert (await client.post("/api/documents/batch", json={"keywords": ["a"]})).status == 200
    db = tmp_path / "doccount.db"
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        if path.exists():
            os.unlink(path)
    resp = await client.get("/readyz")
    body = await resp.json()
    assert (resp.status, body["code"], body["checks"]["store"]) == (503, "not_ready", "unavailable")
    resp = await client.post("/api/documents/batch", json={"keywords": ["b"]})
    assert (resp.status, (await resp.json())["code"]) == (503, "store_unavailable")
