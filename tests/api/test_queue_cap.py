"""The per-client cap of queued jobs holds under concurrency, on both stores: the count and the
insert are one step (one SQLite transaction, one Redis script)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import STORE
from server.errors import QueueFullError
from server.model import JobSpec, new_job_id, now_ms
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver

CAP = 20
SUBMITS = 100


async def test_100_concurrent_submits_from_one_client_queue_exactly_the_cap(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        store_url=store_url,
        run_worker=False,
        max_queued_jobs_per_client=CAP,
    )
    client = await make_client(settings)

    async def submit(i: int) -> int:
        resp = await client.post("/api/documents/batch", json={"keywords": [f"k{i}"]})
        await resp.read()
        return resp.status

    statuses = await asyncio.gather(*(submit(i) for i in range(SUBMITS)))
    assert sorted(statuses) == [200] * CAP + [429] * (SUBMITS - CAP)
    assert await client.app[STORE].count_queued("127.0.0.1") == CAP
    listed = await (await client.get("/api/documents/jobs?limit=200")).json()
    assert len(listed["jobs"]) == CAP


async def test_the_cap_is_per_client_in_the_store(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]), store_url=store_url, run_worker=False
    )
    store = (await make_client(settings)).app[STORE]

    def spec(client: str) -> JobSpec:
        created = now_ms()
        return JobSpec(new_job_id(created), ("a",), ("blog",), 1, created, "naver", client)

    outcomes = await asyncio.gather(
        *(store.create_job(spec(c), max_queued=3) for c in ["a"] * 10 + ["b"] * 2),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, QueueFullError)]
    assert len(refused) == 7 and {e.limit for e in refused} == {3}
    assert all(isinstance(o, str) and o.startswith("batch_") for o in outcomes[10:])
    assert (await store.count_queued("a"), await store.count_queued("b")) == (3, 2)
    await store.create_job(spec("a"))  # no cap asked: no cap applied
    assert await store.count_queued("a") == 4
