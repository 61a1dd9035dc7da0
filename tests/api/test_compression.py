"""gzip for a big job's status poll and the job list: a client that accepts gzip gets the
JSON compressed, a plain client the same JSON as it is, on both stores."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from server.api.compression import GZIP_MIN_BYTES
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver


async def raw_get(client: Any, path: str, accept: str) -> tuple[CIMultiDict[str], bytes]:
    """Headers and the body exactly as sent (the test client would decompress it)."""
    async with (
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.get(client.make_url(path), headers={"Accept-Encoding": accept}) as resp,
    ):
        assert resp.status == 200
        return CIMultiDict(resp.headers), await resp.read()


async def test_status_and_list_gzip_only_when_accepted(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    _, base = fake_naver
    client = await make_client(replace(base_settings(tmp_path, base), store_url=store_url))
    keywords = [f"압축-키워드-{i}" for i in range(200)]
    resp = await client.post(
        "/api/documents/batch", json={"keywords": keywords, "categories": ["blog"]}
    )
    assert resp.status == 200
    job_id = (await resp.json())["jobId"]

    async def completed() -> bool:
        status = await client.get(f"/api/documents/status?jobId={job_id}")
        return bool((await status.json())["job"]["status"] == "completed")

    # 200 upstream calls at the test settings' 1,000/s: well under a second when quiet.
    await wait_until(completed, timeout_s=60.0)
    for i in range(5):  # a job list over GZIP_MIN_BYTES (one job is ~330 bytes)
        extra = await client.post("/api/documents/batch", json={"keywords": [f"더-{i}"]})
        assert extra.status == 200

    async def all_completed() -> bool:
        listed = await (await client.get("/api/documents/jobs")).json()
        return len(listed["jobs"]) == 6 and all(j["status"] == "completed" for j in listed["jobs"])

    await wait_until(all_completed, timeout_s=60.0)  # the list no longer changes under us

    for path in (f"/api/documents/status?jobId={job_id}", "/api/documents/jobs?limit=200"):
        plain_headers, plain = await raw_get(client, path, "identity")
        assert len(plain) >= GZIP_MIN_BYTES, plain[:300]
        assert "Content-Encoding" not in plain_headers
        assert "Accept-Encoding" in plain_headers.getall("Vary")
        body = orjson.loads(plain)
        assert body["success"] is True

        for accept in ("gzip", "gzip, deflate, br", "deflate;q=1, gzip;q=0.5"):
            headers, packed = await raw_get(client, path, accept)
            assert headers["Content-Encoding"] == "gzip", accept
            assert "Accept-Encoding" in headers.getall("Vary")
            assert int(headers["Content-Length"]) == len(packed)
            assert gzip.decompress(packed) == plain
            assert len(packed) * 3 < len(plain)  # repetitive JSON: well under a third

        # Refused, or only codings we do not send: the plain JSON.
        for accept in ("gzip;q=0", "deflate", ""):
            headers, same = await raw_get(client, path, accept)
            assert "Content-Encoding" not in headers, accept
            assert same == plain

    status = orjson.loads((await raw_get(client, f"/api/documents/status?jobId={job_id}", ""))[1])
    assert status["job"]["progress"] == {"current": 200, "total": 200}
    assert [r["keyword"] for r in status["job"]["results"]] == keywords


async def test_small_answers_are_not_compressed(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    _, base = fake_naver
    client = await make_client(replace(base_settings(tmp_path, base), run_worker=False))
    headers, body = await raw_get(client, "/api/documents/jobs", "gzip")
    assert len(body) < GZIP_MIN_BYTES
    assert "Content-Encoding" not in headers
    assert orjson.loads(body) == {"success": True, "jobs": []}
