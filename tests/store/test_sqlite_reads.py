"""Short point reads run on the event loop (read-only connection); long ones on the reader
thread: no status read waits for the writer thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.codec import dumps, loads
from server.model import new_job_id, now_ms
from server.settings import Settings
from server.store.sqlite import LOOP_READ_MAX_RESULTS, SqliteStore
from tests.support.sqlitestore import job_spec, open_sqlite


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with open_sqlite(tmp_path / "reads.db") as s:
        yield s


async def finished(store: SqliteStore, n: int) -> str:
    job = job_spec(n)
    await store.create_job(job)
    claimed = await store.claim_next("w", 0)
    assert claimed is not None and claimed.id == job.id
    for i in range(n):
        await store.record_result(job.id, i, {"keyword": f"k{i}", "counts": {"blog": i}}, "w")
    await store.finish(job.id, "completed", None, "w")
    return job.id


def count_thread_hops(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    hops: list[Any] = []
    run = store._run

    async def counting(fn: Any, *args: Any) -> Any:
        hops.append(fn)
        return await run(fn, *args)

    monkeypatch.setattr(store, "_run", counting)
    return hops


async def test_a_finished_job_is_read_on_the_loop(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await finished(store, 3)
    expected = dumps(await store.get_job(job_id))
    hops = count_thread_hops(store, monkeypatch)
    assert await store.get_job_json(job_id) == expected
    assert await store.get_job_json(new_job_id(now_ms())) is None
    assert hops == []


async def test_no_status_read_queues_behind_the_writer(store: SqliteStore) -> None:
    """Big and pending jobs (read on the reader thread), a finished one (on the loop), the
    incremental poll and the stats all answer while the writer thread is stuck in a write."""
    big = await finished(store, LOOP_READ_MAX_RESULTS + 1)
    small = await finished(store, 3)
    pending = job_spec(2)
    await store.create_job(pending)
    expected = {j: dumps(await store.get_job(j)) for j in (big, small, pending.id)}
    stats = await store.job_stats()
    release = threading.Event()
    stuck = asyncio.get_running_loop().run_in_executor(store._executor, release.wait, 30)
    try:
        async with asyncio.timeout(10):
            for job_id, text in expected.items():
                assert await store.get_job_json(job_id) == text
                assert await store.get_job(job_id) == loads(text)
            got = await store.get_job_json_since(big, "3")
            assert got is not None and len(loads(got[0])["results"]) == LOOP_READ_MAX_RESULTS
            assert await store.job_stats() == stats
            assert [j["id"] for j in await store.list_jobs(3)] == [pending.id, small, big]
        assert not stuck.done()
    finally:
        release.set()
        await stuck


async def test_submission_counters_follow_the_jobs_and_are_rebuilt_at_open(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/counts.db"
    first = SqliteStore(url, Settings())
    await first.open()
    jobs = [job_spec(1) for _ in range(4)]
    for job in jobs:
        await first.create_job(job)
    await first.claim_next("w", 0)
    await first.request_cancel(jobs[1].id)
    assert await first.count_queued("c") == 3  # one processing, two pending
    # A file from before the counters (or with them off): they are recounted at open.
    first.db.execute("DELETE FROM queued_by_client")
    first.db.execute("DELETE FROM pending_by_priority")
    await first.close()
    second = SqliteStore(url, Settings())
    await second.open()
    try:
        assert await second.count_queued("c") == 3
        late = job_spec(1)
        await second.create_job(late)
        job = await second.get_job(late.id, with_results=False)
        assert job is not None and job["queuePosition"] == 3
        assert await second.count_queued("c") == 4
    finally:
        await second.close()


async def test_the_hubs_event_reads_do_not_queue_behind_the_writer(store: SqliteStore) -> None:
    """The hub's read of a job's log (its wake-up after each commit) runs on the reader
    thread: with the writer thread stuck in a write it still returns the log, and a blocking
    read woken by the next commit returns that event with the commit's own data."""
    job = job_spec(3)
    await store.create_job(job)
    claimed = await store.claim_next("w", 0)
    assert claimed is not None
    first = await store.record_result(job.id, 0, {"keyword": "k0", "counts": {"blog": 0}}, "w")
    release = threading.Event()
    stuck = asyncio.get_running_loop().run_in_executor(store._executor, release.wait, 30)
    try:
        async with asyncio.timeout(10):
            page = await store.read_events(job.id, None)
            assert [e.id for e in page.events][-1] == first.id
            assert page.events[-1].json == first.json and not page.gap
            assert (await store.read_events(job.id, first.id)).events == []
        assert not stuck.done()
    finally:
        release.set()
        await stuck
    waiting = asyncio.create_task(store.read_events(job.id, first.id, block_s=10))
    # Most likely already waiting on the log's signal; if not, its first read finds the event.
    await asyncio.sleep(0)
    second = await store.record_result(job.id, 1, {"keyword": "k1", "counts": {"blog": 1}}, "w")
    page = await asyncio.wait_for(waiting, 10)
    assert [(e.id, e.json) for e in page.events] == [(second.id, second.json)]
