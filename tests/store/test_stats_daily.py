"""The day counters behind /api/stats' ``daily`` figures, on both engines: what each write adds,
that repeats add nothing, which day a write counts for, and that old days go."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from server.errors import QueueFullError
from server.kst import DAY_MS, KST_OFFSET_MS
from server.model import JobSpec, new_job_id
from server.settings import Settings
from server.store import Store, store_from_url
from server.store.redis_stats import TTL_S
from server.store.stats_base import (
    CALLS,
    FAILURES,
    FRESH,
    HITS,
    JOB_FAILURES,
    JOBS,
    KEYWORDS,
    STATS_DAYS,
    UNKNOWN_CODE,
    Bump,
    first_day,
    result_bumps,
)

DAY = 20_000  # a KST day number, far from today: its hash is not today's
NOON_MS = DAY * DAY_MS - KST_OFFSET_MS + 12 * 3600 * 1000  # 12:00 KST of DAY


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = store_from_url(store_url, Settings(store_url=store_url))
    await s.open()
    s.stats.clock_ms = lambda: NOON_MS
    yield s
    await s.close()


def spec(keywords: tuple[str, ...] = ("a", "b")) -> JobSpec:
    return JobSpec(
        id=new_job_id(NOON_MS),
        keywords=keywords,
        categories=("blog", "news"),
        priority=1,
        created_ms=NOON_MS,
        source="api",
        client="c",
    )


async def counters(store: Store, first: int = DAY, last: int = DAY) -> dict[tuple[Any, ...], int]:
    return {(r.day, r.metric, r.dim): r.n for r in await store.stats.rows(first, last)}


def test_a_result_adds_a_keyword_and_each_category_once() -> None:
    ok = {"keyword": "a", "counts": {"blog": 1, "news": 2}, "cached": ["news"], "error": None}
    assert result_bumps(ok) == [Bump(KEYWORDS, "", 1), Bump(HITS, "", 1), Bump(FRESH, "", 1)]
    failed = {
        "keyword": "b",
        "counts": {"blog": 1},
        "cached": [],
        "error": "...",
        "errors": {"news": "...", "cafe": "...", "searchVolume": "no volume"},
        "errorCodes": {"news": "rate_limited", "cafe": "rate_limited"},
    }
    assert result_bumps(failed) == [
        Bump(KEYWORDS, "", 1),
        Bump(FRESH, "", 3),  # blog counted, news and cafe asked and refused; not the volume
        Bump(FAILURES, "rate_limited", 2),
    ]
    whole = {"keyword": "c", "counts": {}, "cached": [], "error": "..."}
    assert result_bumps(whole) == [Bump(KEYWORDS, "", 1), Bump(FAILURES, UNKNOWN_CODE, 1)]


async def test_jobs_and_results_count_once_on_their_day(store: Store) -> None:
    job = spec()
    assert await store.create_job(job, idempotency_key="k") == job.id
    assert await store.create_job(spec(), idempotency_key="k") == job.id  # the same job
    claimed = await store.claim_next("w", 0)
    assert claimed is not None
    result = {"keyword": "a", "counts": {"blog": 3}, "cached": ["blog"], "error": None}
    await store.record_result(job.id, 0, {"index": 0, **result}, "w")
    await store.record_result(job.id, 0, {"index": 0, **result}, "w")  # a resumed job's repeat
    failed = {
        "keyword": "b",
        "counts": {"blog": 4},
        "cached": [],
        "error": "뉴스: ...",
        "errors": {"news": "..."},
        "errorCodes": {"news": "upstream_unavailable"},
    }
    store.stats.clock_ms = lambda: NOON_MS + 12 * 3600 * 1000  # 00:00 KST: the next day
    await store.record_result(job.id, 1, {"index": 1, **failed}, "w")
    await store.key_registry().record_call("key-1", DAY)
    await store.key_registry().record_call("key-1", DAY + 1)
    await store.key_registry().record_call("key-2", DAY + 1)
    assert await counters(store, DAY - 1, DAY + 2) == {
        (DAY, JOBS, ""): 1,
        (DAY, KEYWORDS, ""): 1,
        (DAY, HITS, ""): 1,
        (DAY, CALLS, "key-1"): 1,
        (DAY + 1, KEYWORDS, ""): 1,
        (DAY + 1, FRESH, ""): 2,
        (DAY + 1, FAILURES, "upstream_unavailable"): 1,
        (DAY + 1, CALLS, "key-1"): 1,
        (DAY + 1, CALLS, "key-2"): 1,
    }


async def test_a_separate_bump_counts_on_the_stores_day(store: Store) -> None:
    await store.stats.add([Bump(JOB_FAILURES, "config_error", 1)])
    await store.stats.add([Bump(JOB_FAILURES, "config_error", 1), Bump(JOB_FAILURES, "x", 2)])
    assert await counters(store) == {
        (DAY, JOB_FAILURES, "config_error"): 2,
        (DAY, JOB_FAILURES, "x"): 2,
    }


async def test_a_refused_job_counts_nothing(store: Store) -> None:
    await store.create_job(spec())
    with pytest.raises(QueueFullError):
        await store.create_job(spec(), max_queued=1)
    assert await counters(store) == {(DAY, JOBS, ""): 1}


async def test_days_before_the_window_go(store: Store, store_url: str) -> None:
    old = DAY - STATS_DAYS
    store.stats.clock_ms = lambda: NOON_MS - STATS_DAYS * DAY_MS
    await store.create_job(spec())
    store.stats.clock_ms = lambda: NOON_MS
    await store.create_job(spec())
    assert await counters(store, old, DAY) == {(old, JOBS, ""): 1, (DAY, JOBS, ""): 1}
    if store_url.startswith("sqlite"):
        assert await store.stats.prune(first_day(DAY)) == 1
        assert await counters(store, old, DAY) == {(DAY, JOBS, ""): 1}
        return
    # Redis: each day's hash expires by itself, a few days after the window has passed it.
    assert await store.stats.prune(first_day(DAY)) == 0
    r = aioredis.Redis.from_url(store_url, decode_responses=True)
    try:
        assert TTL_S - 60 < await r.ttl(f"dc:sd:{DAY}") <= TTL_S
        assert TTL_S > STATS_DAYS * 24 * 3600
        await store.key_registry().record_call("key-1", DAY)
        assert TTL_S - 60 < await r.ttl(f"dc:calls:{DAY}") <= TTL_S
    finally:
        await r.aclose()
