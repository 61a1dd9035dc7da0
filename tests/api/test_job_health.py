"""Issue 11.4: a job nobody counts says so. A pending job while no worker is alive says
"waiting": "no_worker"; a processing job whose holder stopped beating says "stalled": true and
since when; in the status JSON, the jobs list and an event, on both engines."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import STORE
from server.codec import loads
from server.model import now_ms
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver
from tests.support.streams import status_of


async def progress_ticks(client: Any, job_id: str) -> list[dict[str, Any]]:
    page = await client.app[STORE].read_events(job_id, None)
    return [loads(e.json) for e in page.events if e.type == "progress"]


async def test_a_pending_job_with_no_live_worker_says_so(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        store_url=store_url,
        run_worker=False,  # a web node, and no worker anywhere
        health_watch_s=0.05,
    )
    client = await make_client(settings)
    resp = await client.post("/api/documents/batch", json={"keywords": ["맥북"]})
    job_id = (await resp.json())["jobId"]
    job = await status_of(client, job_id)
    assert (job["status"], job["waiting"]) == ("pending", "no_worker")
    listed = (await (await client.get("/api/documents/jobs")).json())["jobs"]
    assert listed[0]["waiting"] == "no_worker"
    stats = await (await client.get("/api/stats")).json()
    assert stats["workers"] == []

    async def told() -> bool:
        return any(t.get("waiting") == "no_worker" for t in await progress_ticks(client, job_id))

    await wait_until(told)
    # A worker shows up (its heartbeat): the job is no longer said to wait for one.
    await client.app[STORE].heartbeat("w-new", [], now_ms())

    async def not_waiting() -> bool:  # a node's reading of the heartbeats lasts 0.5 s
        return "waiting" not in await status_of(client, job_id)

    await wait_until(not_waiting)

    async def cleared() -> bool:
        ticks = await progress_ticks(client, job_id)
        return bool(ticks) and ticks[-1]["waiting"] is None

    await wait_until(cleared)
    stats = await (await client.get("/api/stats")).json()
    assert [w["id"] for w in stats["workers"]] == ["w-new"]


async def test_a_processing_job_whose_holder_stopped_beating_is_stalled(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        store_url=store_url,
        run_worker=False,
        health_watch_s=0.05,
    )
    client = await make_client(settings)
    store = client.app[STORE]
    resp = await client.post("/api/documents/batch", json={"keywords": ["맥북", "리뷰"]})
    job_id = (await resp.json())["jobId"]
    claimed = await store.claim_next("w-killed", 0)
    assert claimed is not None and claimed.id == job_id
    last_beat = now_ms() - 26_000  # killed 26 s ago, mid-job
    await store.heartbeat("w-killed", [job_id], last_beat)
    job = await status_of(client, job_id)
    assert (job["status"], job["stalled"], job["stalledSinceMs"]) == (
        "processing",
        True,
        last_beat,
    )

    async def told() -> bool:
        ticks = await progress_ticks(client, job_id)
        return any(t.get("stalled") is True and t["stalledSinceMs"] == last_beat for t in ticks)

    await wait_until(told)
    # Taken over (a live worker holds it): no longer stalled.
    await store.heartbeat("w-other", [job_id], now_ms())

    async def moving() -> bool:
        return "stalled" not in await status_of(client, job_id)

    await wait_until(moving)
