"""Submissions that arrive together are written in one transaction, each with its own fate."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.codec import loads
from server.model import JOBS_FEED
from server.settings import Settings
from server.store.sqlite import WORK_SIGNAL, SqliteStore
from tests.support.common import wait_until
from tests.support.sqlitestore import job_spec


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(f"sqlite:///{tmp_path}/group.db", Settings())
    await s.open()
    yield s
    await s.close()


async def test_concurrent_creates_commit_together_in_arrival_order(store: SqliteStore) -> None:
    batches: list[int] = []
    create_batch = store._create_batch

    def counting(specs: list) -> list:  # type: ignore[type-arg]
        batches.append(len(specs))
        return create_batch(specs)

    store._create_batch = counting  # type: ignore[method-assign]
    jobs = [job_spec(1) for _ in range(30)]
    await asyncio.gather(*(store.create_job(j) for j in jobs))
    assert sum(batches) == 30 and len(batches) < 30
    feed = [loads(e.json)["job"] for e in (await store.read_events(JOBS_FEED, None)).events]
    assert [j["id"] for j in feed] == [j.id for j in jobs]
    assert [j["queuePosition"] for j in feed] == list(range(1, 31))
    assert await store.count_queued("c") == 30


async def test_one_failing_create_fails_alone(store: SqliteStore) -> None:
    first = job_spec(1)
    await store.create_job(first)
    again, other = first, job_spec(1)
    new = job_spec(1)
    results = await asyncio.gather(
        store.create_job(new), store.create_job(again), store.create_job(other),
        return_exceptions=True,
    )  # fmt: skip
    assert results[0] == new.id and results[2] == other.id
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert await store.get_job(other.id) is not None
    assert await store.count_queued("c") == 3


async def test_a_create_whose_caller_went_away_still_wakes_a_worker(store: SqliteStore) -> None:
    claim = asyncio.create_task(store.claim_next("w", 10.0))
    # The worker is parked on the work signal.
    await wait_until(lambda: bool(getattr(store._signals.get(WORK_SIGNAL), "_waiters", None)))
    on_thread = threading.Event()
    create_batch = store._create_batch

    def entered(specs: list) -> list:  # type: ignore[type-arg]
        on_thread.set()
        return create_batch(specs)

    store._create_batch = entered  # type: ignore[method-assign]
    job = job_spec(1)
    create = asyncio.create_task(store.create_job(job))
    await wait_until(on_thread.is_set)  # its batch is on the store's thread
    create.cancel()
    claimed = await asyncio.wait_for(claim, 5.0)
    assert claimed is not None and claimed.id == job.id
