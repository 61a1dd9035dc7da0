"""WebSocket permessage-deflate (``--ws-deflate``, off by default): a late subscriber's big
snapshot goes deflated to a socket that negotiated it, and the same JSON plain to one that
did not; without the flag the extension is never agreed."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from tests.support.common import base_settings
from tests.support.rawws import RawSocket
from tests.support.streams import Driver

WS = "/api/documents/ws"
KEYWORDS = [f"압축-{i}" for i in range(200)]


async def app_with_finished_job(
    tmp_path: Path, fake_naver: Any, make_client: Any, deflate: bool
) -> tuple[TestClient[Any, Any], str]:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        run_worker=False,
        categories=("blog",),
        feed_block_s=0.05,
        ws_deflate=deflate,
    )
    client: TestClient[Any, Any] = await make_client(settings)
    driver = await Driver.start(client, KEYWORDS)
    await driver.claim()
    await driver.run_to_end()
    return client, driver.job_id


def subscribe(job_id: str) -> str:
    return json.dumps({"type": "subscribe", "jobId": job_id})


async def plain_snapshot(client: TestClient[Any, Any], job_id: str) -> str:
    async with client.ws_connect(WS, compress=0) as ws:
        await ws.send_str(subscribe(job_id))
        msg = await ws.receive(timeout=10)
        assert msg.type is WSMsgType.TEXT
        return str(msg.data)


async def test_a_snapshot_goes_deflated_when_negotiated(
    tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    client, job_id = await app_with_finished_job(tmp_path, fake_naver, make_client, True)
    plain = await plain_snapshot(client, job_id)
    snapshot = json.loads(plain)
    assert snapshot["type"] == "snapshot"
    assert [r["keyword"] for r in snapshot["job"]["results"]] == KEYWORDS

    sock, ext = await RawSocket.open(client.server.port, WS, offer=True)
    try:
        assert ext.startswith("permessage-deflate")
        sock.send_text(subscribe(job_id))
        first, payload = await sock.frame()
        assert first == 0xC1  # FIN, RSV1 (compressed), text
        inflated = zlib.decompressobj(-zlib.MAX_WBITS).decompress(payload + b"\x00\x00\xff\xff")
        assert inflated.decode() == plain
        assert len(payload) * 4 < len(plain.encode())
    finally:
        sock.close()

    # A library client that negotiates it reads the same JSON.
    async with client.ws_connect(WS, compress=15) as ws:
        await ws.send_str(subscribe(job_id))
        msg = await ws.receive(timeout=10)
        assert msg.type is WSMsgType.TEXT and msg.data == plain


async def test_without_the_flag_the_extension_is_not_agreed(
    tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    client, job_id = await app_with_finished_job(tmp_path, fake_naver, make_client, False)
    plain = await plain_snapshot(client, job_id)
    sock, ext = await RawSocket.open(client.server.port, WS, offer=True)
    try:
        assert ext == ""
        sock.send_text(subscribe(job_id))
        first, payload = await sock.frame()
        assert first == 0x81  # FIN, text, not compressed
        assert payload.decode() == plain
    finally:
        sock.close()
