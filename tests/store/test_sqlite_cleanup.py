"""The embedded store's cleanup: small transactions that let other writes through between them,
exact counters after, and a WAL folded back into the file."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.model import COMPLETED, JobSpec, new_job_id, now_ms
from server.settings import Settings
from server.store import sqlite as sqlite_module
from server.store.sqlite import SqliteStore
from tests.support.common import wait_until


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    url = f"sqlite:///{tmp_path}/cleanup.db"
    s = SqliteStore(url, replace(Settings(store_url=url), job_ttl_s=60.0))
    await s.open()
    yield s
    await s.close()


def spec(n: int) -> JobSpec:
    created = now_ms()
    return JobSpec(
        id=new_job_id(created),
        keywords=tuple(f"k{i}" for i in range(n)),
        categories=("blog",),
        priority=1,
        created_ms=created,
        source="demo",
        client="c",
    )


async def finished_jobs(store: SqliteStore, count: int) -> None:
    def fill(db: Any) -> None:
        for _ in range(count):
            job = spec(2)
            store._create(db, job)
            store._claim(db, "w")
            for i in range(2):
                store._record(db, job.id, i, {"index": i, "keyword": f"k{i}"})
            store._finish(db, job.id, COMPLETED, None)

    await store._tx(fill)


async def test_writes_go_between_cleanup_batches(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "CLEANUP_FIRST_BATCH_JOBS", 10)
    monkeypatch.setattr(sqlite_module, "CLEANUP_BATCH_JOBS", 10)
    # Batches are sized by how long the last one took; pinned here so a loaded machine cannot
    # change the order the test reads (the first batch waits on the gate, the next would shrink).
    monkeypatch.setattr(sqlite_module, "CLEANUP_MIN_BATCH_JOBS", 10)
    await finished_jobs(store, 45)
    live = spec(3)
    await store.create_job(live)
    await store.claim_next("w", 0)
    order: list[str] = []
    gate = threading.Event()
    batch = store._cleanup_jobs
    record = store._record

    def gated_batch(cutoff: int, limit: int) -> tuple[list[str], float]:
        out = batch(cutoff, limit)
        order.append(f"batch of {len(out[0])}")
        if len(order) == 1:
            gate.wait(10)  # the worker's write queues meanwhile
        return out

    def noted_record(*args: Any, **kwargs: Any) -> Any:
        order.append("worker write")
        return record(*args, **kwargs)

    monkeypatch.setattr(store, "_cleanup_jobs", gated_batch)
    monkeypatch.setattr(store, "_record", noted_record)
    cleanup = asyncio.create_task(store.cleanup(now_ms() + 120_000))
    await wait_until(lambda: bool(order))
    write = asyncio.create_task(store.record_result(live.id, 0, {"index": 0}, "w"))
    # The write is queued on the writer thread behind the gated batch.
    await wait_until(lambda: store._executor._work_queue.qsize() > 0)
    gate.set()
    assert await cleanup == 45
    await write
    # The write ran right after the batch in progress, not after the whole cleanup.
    assert order == ["batch of 10", "worker write", *["batch of 10"] * 3, "batch of 5"]
    stats = await store.job_stats()
    assert stats["byStatus"]["completed"] == 0 and stats["byStatus"]["processing"] == 1
    assert await store.get_job(live.id) is not None


def wal_bytes(store: SqliteStore) -> int:
    return Path(store.path + "-wal").stat().st_size


async def test_cleanup_leaves_no_wal_behind(store: SqliteStore) -> None:
    await finished_jobs(store, 300)
    assert wal_bytes(store) > 0
    assert await store.cleanup(now_ms() + 120_000) == 300
    assert wal_bytes(store) == 0
    rows = await store._run(
        lambda: store.db.execute(
            "SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM results), "
            "(SELECT COUNT(*) FROM events)"
        ).fetchone()
    )
    assert rows == (0, 0, 0)  # the jobs feed's old events went too
    assert (await store.job_stats())["avgJobMs"] is None
