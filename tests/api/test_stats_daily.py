"""Issue 14, analysis: /api/stats' ``daily`` figures after real jobs against the fake upstream,
on both stores, on a fake clock that crosses a midnight KST between the two jobs, so each
job's figures land on its own day.

Job A (day D, 23:59 KST): 2 keywords x 4 categories, one category refused by the upstream
(400 SE01 -> ``bad_request``): 8 calls, 8 fresh lookups, 1 failure.
Job B (day D+1, 00:01 KST): 3 keywords, one of them counted by A (4 cache hits), 8 calls.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.aio import cancel_and_wait
from server.api.daily import day_text
from server.appkeys import HTTP, STORE
from server.kst import DAY_MS, kst_day, next_kst_midnight_ms
from server.model import now_ms
from server.work.counting import KeywordCounter
from server.work.providers.naver import NaverProvider
from server.work.worker import Worker
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver


class Clock:
    def __init__(self, at_ms: int) -> None:
        self.at_ms = at_ms

    def now(self) -> int:
        return self.at_ms


async def run_job(client: Any, keywords: list[str]) -> str:
    resp = await client.post("/api/documents/batch", json={"keywords": keywords})
    assert resp.status == 200, await resp.text()
    job_id: str = (await resp.json())["jobId"]

    async def completed() -> bool:
        resp = await client.get(f"/api/documents/status?jobId={job_id}")
        return bool((await resp.json())["job"]["status"] == "completed")

    await wait_until(completed, timeout_s=20.0)
    return job_id


async def daily(client: Any) -> dict[str, Any]:
    resp = await client.get("/api/stats")
    assert resp.status == 200
    body: dict[str, Any] = (await resp.json())["daily"]
    return body


def day(
    date: str,
    *,
    jobs: int = 0,
    keywords: int = 0,
    hits: int = 0,
    fresh: int = 0,
    rate: float | None = None,
    failures: dict[str, int] | None = None,
    calls: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "day": date,
        "jobs": jobs,
        "keywords": keywords,
        "cacheHits": hits,
        "freshLookups": fresh,
        "hitRate": rate,
        "failures": failures or {},
        "jobFailures": {},
        "callsByKey": calls or {},
    }


async def test_daily_figures_split_at_midnight_kst(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    fake, base = fake_naver
    settings = replace(base_settings(tmp_path, base), store_url=store_url, run_worker=False)
    client = await make_client(settings)
    store = client.app[STORE]
    midnight_ms = next_kst_midnight_ms(now_ms() - DAY_MS)  # today's 00:00 KST
    clock = Clock(midnight_ms - 60_000)  # 23:59 KST yesterday
    store.stats.clock_ms = clock.now
    provider = NaverProvider(
        settings,
        client.app[HTTP],
        store.limiter(settings.rate_per_s),
        store.key_registry(),
        clock_ms=clock.now,
    )
    worker = Worker(store, KeywordCounter(store, provider), settings, clock_ms=clock.now)
    runner = asyncio.create_task(worker.run(poll_s=0.05))
    yesterday, today = day_text(kst_day(midnight_ms) - 1), day_text(kst_day(midnight_ms))
    fake.add_fault("400", query="둘", api="news")
    try:
        await run_job(client, ["하나", "둘"])
        first = await daily(client)
        assert (first["days"], first["to"]) == (30, yesterday)
        assert len(first["perDay"]) == 30 and first["perDay"][0]["day"] == first["from"]
        day_a = day(
            yesterday,
            jobs=1,
            keywords=2,
            fresh=8,
            rate=0.0,
            failures={"bad_request": 1},
            calls={"test…": 8},
        )
        assert first["perDay"][-1] == day_a
        assert first["perDay"][:-1] == [day(d["day"]) for d in first["perDay"][:-1]]

        clock.at_ms = midnight_ms + 60_000  # 00:01 KST: a new day
        await run_job(client, ["하나", "셋", "넷"])
        second = await daily(client)
    finally:
        await cancel_and_wait([runner])
    assert second["to"] == today
    day_b = day(today, jobs=1, keywords=3, hits=4, fresh=8, rate=0.3333, calls={"test…": 8})
    assert second["perDay"][-2:] == [day_a, day_b]
    assert second["total"] == {
        "jobs": 2,
        "keywords": 5,
        "cacheHits": 4,
        "freshLookups": 16,
        "hitRate": 0.2,
        "failures": {"bad_request": 1},
        "jobFailures": {},
        "callsByKey": {"test…": 16},
    }
    assert len(fake.calls) == 16  # the figures are what the upstream saw
    assert "test-id" not in str(second)  # keys by label, never by id


async def test_a_failed_job_counts_under_its_errors_code(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    """Naver's 404 SE05 (no such API) fails the job (config_error) before any result."""
    fake, base = fake_naver
    settings = replace(base_settings(tmp_path, base), store_url=store_url)
    client = await make_client(settings)
    fake.add_fault("404", query="하나", api="blog")
    resp = await client.post("/api/documents/batch", json={"keywords": ["하나"]})
    job_id = (await resp.json())["jobId"]

    async def failed() -> bool:
        resp = await client.get(f"/api/documents/status?jobId={job_id}")
        return bool((await resp.json())["job"]["status"] == "failed")

    await wait_until(failed, timeout_s=20.0)

    async def counted() -> bool:
        return bool((await daily(client))["total"]["jobFailures"])

    await wait_until(counted, timeout_s=5.0)  # counted just after the job's end is written
    total = (await daily(client))["total"]
    assert total["jobFailures"] == {"config_error": 1}
    assert (total["jobs"], total["keywords"], total["failures"]) == (1, 0, {})
