"""``GET /api/documents/status?jobId=...&since=<eventId>`` over HTTP, on both engines."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import STORE, WORKER
from tests.store.test_store_contract import trim_log
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver


async def poll(client: Any, job_id: str, since: str | None = None) -> tuple[int, dict[str, Any]]:
    url = f"/api/documents/status?jobId={job_id}"
    if since is not None:
        url += f"&since={since}"
    resp = await client.get(url)
    body: dict[str, Any] = await resp.json()
    return resp.status, body


async def test_since_sends_only_what_came_after_the_id(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    _, base = fake_naver
    settings = replace(base_settings(tmp_path, base), store_url=store_url, run_worker=False)
    client = await make_client(settings)
    keywords = [f"키워드{i}" for i in range(5)]
    resp = await client.post("/api/documents/batch", json={"keywords": keywords})
    job_id = (await resp.json())["jobId"]
    status, first = await poll(client, job_id, "0")
    assert status == 200 and first["since"] == "0" and "gap" not in first
    assert first["job"]["results"] == [] and first["job"]["status"] == "pending"
    assert await client.app[WORKER].run_until_idle() == [job_id]

    _, full = await poll(client, job_id)
    assert "since" not in full and len(full["job"]["results"]) == 5  # the seed's poll, unchanged
    _, again = await poll(client, job_id, first["job"]["lastEventId"])
    assert again == {"success": True, "job": full["job"], "since": "1"}
    last = full["job"]["lastEventId"]
    _, nothing = await poll(client, job_id, last)
    assert nothing["job"] == {**full["job"], "results": []}
    third_result = next(
        e.id for e in (await client.app[STORE].read_events(job_id, None)).events
        if e.type == "result" and '"index":2' in e.json
    )  # fmt: skip
    _, tail = await poll(client, job_id, third_result)
    assert [r["keyword"] for r in tail["job"]["results"]] == keywords[3:]

    await trim_log(client.app[STORE], job_id, int(third_result))
    _, gapped = await poll(client, job_id, "1")
    assert gapped == {"success": True, "job": full["job"], "since": "1", "gap": True}


async def test_since_errors_are_4xx_json(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    _, base = fake_naver
    settings = replace(base_settings(tmp_path, base), store_url=store_url, run_worker=False)
    client = await make_client(settings)
    resp = await client.post("/api/documents/batch", json={"keywords": ["a"]})
    job_id = (await resp.json())["jobId"]
    for bad in ("x", "-3", "99"):
        status, body = await poll(client, job_id, bad)
        assert status == 400 and body["success"] is False
        assert body["code"] == "invalid_event_id" and body["error"]
    status, body = await poll(client, "batch_1796000000000_AAAAAAAAAAAAAAAAAAAAAA", "1")
    assert status == 404 and body["code"] == "job_not_found"
