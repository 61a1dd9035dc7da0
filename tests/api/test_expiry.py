"""Finished jobs expire in a served app: the periodic cleanup runs by itself, and on Redis a
node's cached copy of a finished job outlives another node's cleanup by at most 1 s."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import STORE, WORKER
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver


async def status_code(client: Any, job_id: str) -> int:
    resp = await client.get(f"/api/documents/status?jobId={job_id}")
    await resp.read()
    return int(resp.status)


async def finished_job(client: Any) -> str:
    resp = await client.post("/api/documents/batch", json={"keywords": ["만료"]})
    job_id: str = (await resp.json())["jobId"]
    assert await client.app[WORKER].run_until_idle() == [job_id]
    return job_id


async def test_the_served_app_deletes_expired_jobs_on_its_own(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    settings = base_settings(
        tmp_path,
        fake_naver[1],
        store_url=store_url,
        run_worker=False,
        job_ttl_s=0.3,
        cleanup_interval_s=0.1,
    )
    client = await make_client(settings)
    job_id = await finished_job(client)
    assert await status_code(client, job_id) == 200  # and its JSON is now cached
    assert (await client.app[STORE].job_stats())["byStatus"]["completed"] == 1
    # Nobody calls cleanup here: the app's own loop must, once the job is older than its TTL.

    async def gone() -> bool:
        return await status_code(client, job_id) == 404

    await wait_until(gone, timeout_s=10)
    store = client.app[STORE]
    assert await store.get_job(job_id) is None
    # On Redis the job's keys carry its TTL and vanish by themselves, so the 404 alone does not
    # prove the loop ran. What only the cleanup (a loop round) takes away: the job's place in
    # the ended-jobs index and its count in the status totals (SQLite: its rows, and the
    # triggers' counters with them).

    async def uncounted() -> bool:
        return (await store.job_stats())["byStatus"]["completed"] == 0

    await wait_until(uncounted, timeout_s=10)
    assert job_id not in [job["jobId"] for job in await store.list_jobs(50)]


async def test_a_cached_finished_job_on_redis_outlives_another_nodes_cleanup_by_1_s(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, redis_url: str
) -> None:
    common = base_settings(tmp_path, fake_naver[1], store_url=redis_url, run_worker=False)
    # A cleans up (its own loop, often); B never does: only its cache's 1 s expiry can let it
    # see the deletion.
    node_a = await make_client(replace(common, job_ttl_s=0.5, cleanup_interval_s=0.05))
    node_b = await make_client(replace(common, cleanup_interval_s=3600.0))
    job_id = await finished_job(node_a)
    assert await status_code(node_b, job_id) == 200
    b_store = node_b.app[STORE]
    assert b_store._json_cache.get(job_id) is not None  # type: ignore[attr-defined]

    async def deleted_in_redis() -> bool:
        return await node_a.app[STORE].get_job(job_id, with_results=False) is None

    await wait_until(deleted_in_redis, timeout_s=10)
    deleted_at = time.monotonic()

    async def b_sees_it_gone() -> bool:
        return await status_code(node_b, job_id) == 404

    await wait_until(b_sees_it_gone, timeout_s=10)
    # At most the cache's 1 s, plus slack for a loaded machine.
    assert time.monotonic() - deleted_at < 2.0
