"""What only the distributed store has: leases between processes, fencing of a worker that
lost its job, Redis going away, and byte-for-byte the embedded store's JSON."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from server.codec import loads
from server.errors import StoreUnavailableError
from server.model import COMPLETED, JOBS_FEED, JobSpec, new_job_id, now_ms
from server.settings import Settings
from server.store import Store, store_from_url
from server.store.redis import GROUP, PREFIX, RedisStore
from tests.support.common import wait_until
from tests.support.processes import free_port

OpenStore = Callable[..., Any]


@pytest.fixture
async def open_store(redis_url: str) -> AsyncIterator[OpenStore]:
    opened: list[Store] = []

    async def _open(url: str = redis_url, **overrides: Any) -> Store:
        store = store_from_url(url, replace(Settings(store_url=url, lease_s=0.3), **overrides))
        await store.open()
        opened.append(store)
        return store

    yield _open
    for store in opened:
        await store.close()


def spec_of(keywords: tuple[str, ...] = ("a", "b", "c")) -> JobSpec:
    created = now_ms()
    return JobSpec(new_job_id(created), keywords, ("blog",), 1, created, "naver", "c1")


def result(i: int) -> dict[str, Any]:
    return {"index": i, "keyword": str(i), "counts": {"blog": i}, "cached": [], "error": None}


async def pending_idle_ms(url: str, job_id: str) -> int:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        qkey, qid = await client.hmget(f"{PREFIX}job:{job_id}", ["qkey", "qid"])
        rows = await client.xpending_range(qkey, GROUP, min=qid, max=qid, count=1)
        return int(rows[0]["time_since_delivered"]) if rows else -1
    finally:
        await client.aclose()


async def test_takeover_fences_the_old_holder(open_store: OpenStore, redis_url: str) -> None:
    old, new = await open_store(), await open_store()
    spec = spec_of()
    await old.create_job(spec)
    assert await old.claim_next("w-old", 0) is not None
    await old.record_result(spec.id, 0, result(0), "w-old")
    assert await old.renew_claim(spec.id, "w-old") is True
    # The old holder stalls past its lease; the new worker takes the job over.
    taken = await new.claim_next("w-new", 5.0)
    assert taken is not None and taken.next_index == 1
    assert await old.renew_claim(spec.id, "w-old") is False
    assert await new.renew_claim(spec.id, "w-new") is True
    before = [e.id for e in (await new.read_events(spec.id, None)).events]
    # A late write of a result that is already stored adds nothing (watchers see it once) ...
    await old.record_result(spec.id, 0, result(0), "w-old")
    # ... and the old holder cannot end the job the new one is running.
    await old.finish(spec.id, COMPLETED, None, "w-old")
    job = await new.get_job(spec.id)
    assert job is not None and job["status"] == "processing"
    assert [e.id for e in (await new.read_events(spec.id, None)).events] == before
    for i in (1, 2):
        await new.record_result(spec.id, i, result(i), "w-new")
    await new.finish(spec.id, COMPLETED, None, "w-new")
    done = await new.get_job(spec.id)
    assert done is not None and done["status"] == "completed"
    assert [r["index"] for r in done["results"]] == [0, 1, 2]


async def test_a_worker_does_not_take_over_its_own_job_while_renewing(
    open_store: OpenStore, redis_url: str
) -> None:
    store = await open_store()
    spec = spec_of()
    await store.create_job(spec)
    assert await store.claim_next("w1", 0) is not None

    async def past_lease() -> bool:
        return await pending_idle_ms(redis_url, spec.id) > 300

    # Its renewal is late (a Redis outage, a stalled loop), but it is still counting:
    await wait_until(past_lease, timeout_s=5.0, step_s=0.05)
    store._held[spec.id] = ("w1", time.monotonic())  # type: ignore[attr-defined]
    assert await store.claim_next("w1", 0) is None
    assert await store.renew_claim(spec.id, "w1") is True


async def test_renewal_keeps_the_lease(open_store: OpenStore, redis_url: str) -> None:
    holder, other = await open_store(), await open_store()
    spec = spec_of()
    await holder.create_job(spec)
    assert await holder.claim_next("w1", 0) is not None
    deadline = time.monotonic() + 1.0  # over three leases
    while time.monotonic() < deadline:
        assert await holder.renew_claim(spec.id, "w1")
        assert await other.claim_next("w2", 0.1) is None


async def test_same_json_as_the_embedded_store(tmp_path: Path, open_store: OpenStore) -> None:
    """Byte for byte, apart from the clock: the same calls on both engines."""
    url = f"sqlite:///{tmp_path}/same.db"
    sqlite = store_from_url(url, Settings(store_url=url))
    await sqlite.open()
    redis = await open_store(lease_s=30.0)
    spec = spec_of(("맥북", "리뷰"))
    other = spec_of(("x",))
    outputs: list[list[str]] = []
    try:
        for store in (sqlite, redis):
            texts: list[str] = []
            await store.create_job(spec)
            await store.create_job(other)
            texts.append(str(await store.get_job(other.id)))
            await store.claim_next("w1", 0)
            for i, keyword in enumerate(spec.keywords):
                item = {"index": i, "keyword": keyword, "counts": {"blog": i}, "error": None}
                texts.append((await store.record_result(spec.id, i, item, "w1")).json)
            texts.append((await store.append_progress(spec.id, {"etaMs": None})).json)
            texts.append((await store.finish(spec.id, "failed", '실패 "따옴표"', "w1")).json)
            texts.append(str(await store.request_cancel(other.id)))
            texts.append(str(await store.get_job(spec.id)))
            texts.append(str(await store.list_jobs(10)))
            texts += [e.json for e in (await store.read_events(spec.id, None)).events]
            texts += [e.json for e in (await store.read_events(JOBS_FEED, None)).events]
            outputs.append(texts)
    finally:
        await sqlite.close()

    def normalise(text: str) -> str:
        # The clock is the only thing allowed to differ.
        return re.sub(r"""(["']\w+At["']): \d+|(["']\w+At["']):\d+""", r"\1\2:T", text)

    left, right = ([normalise(t) for t in texts] for texts in outputs)
    assert any("startedAt':T" in t for t in left) and any('"completedAt":T' in t for t in left)
    assert left == right


async def test_groups_come_back_after_redis_lost_its_data(
    open_store: OpenStore, redis_url: str
) -> None:
    store = await open_store()
    client = aioredis.Redis.from_url(redis_url)
    await client.flushall()  # a restart without persistence
    await client.aclose()
    spec = spec_of()
    await store.create_job(spec)
    claimed = await store.claim_next("w1", 0)
    assert claimed is not None and claimed.id == spec.id


async def test_redis_down_is_store_unavailable_and_fast(open_store: OpenStore) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    store = await open_store(dead)  # opening does not need Redis: nodes start, answer 503
    assert isinstance(store, RedisStore)
    started = time.monotonic()
    spec = spec_of()
    for call in (
        store.ping(),
        store.create_job(spec),
        store.get_job(spec.id),
        store.list_jobs(5),
        store.claim_next("w1", 0.5),
        store.read_events(spec.id, None, block_s=1.0),
        store.request_cancel(spec.id),
        store.job_stats(),
        store.count_queued("c1"),
        store.cleanup(now_ms()),
    ):
        with pytest.raises(StoreUnavailableError):
            await call
    assert time.monotonic() - started < 5.0
    # The cache is an optimisation: a miss, not an error.
    assert await store.cache_get("demo", "a", ("blog",)) == {}
    await store.cache_put("demo", "a", "blog", 1, now_ms())
    # Key retirements are remembered locally meanwhile.
    await store.key_registry().retire("k1", None, "auth")
    assert await store.key_registry().retired() == {"k1": None}
    # wait_cancel keeps watching rather than failing the job.
    watcher = asyncio.create_task(store.wait_cancel(spec.id))
    await asyncio.sleep(0.3)
    assert not watcher.done()
    watcher.cancel()


async def test_the_limiter_is_shared_by_every_process(open_store: OpenStore) -> None:
    """Four stores are four worker processes: together they get one key's rate."""
    limiters = [(await open_store()).limiter(50.0) for _ in range(4)]
    started = time.monotonic()
    await asyncio.gather(*(limiters[i % 4].acquire("shared-key") for i in range(20)))
    # 20 calls at 50/s: the last may start 19 intervals of 20 ms after the first, not before.
    assert time.monotonic() - started >= 19 * 0.02 - 0.01


async def test_stats_and_cleanup_with_a_zero_ms_job(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that starts and ends in the same millisecond (Lua would write its -0 ms)."""
    import server.store.redis as redis_store

    monkeypatch.setattr(redis_store, "now_ms", lambda: 1_800_000_000_000)
    store = await open_store()
    spec = spec_of(("a",))
    await store.create_job(spec)
    assert await store.claim_next("w1", 0) is not None
    await store.finish(spec.id, COMPLETED, None, "w1")
    assert (await store.job_stats())["avgJobMs"] == 0
    assert await store.cleanup(1_900_000_000_000) == 1
    stats = await store.job_stats()
    assert stats["avgJobMs"] is None and stats["byStatus"]["completed"] == 0


async def test_a_worker_stopping_cleanly_hands_its_job_back_at_once(
    open_store: OpenStore,
) -> None:
    stopping = await open_store(lease_s=30.0)
    other = await open_store(lease_s=30.0)
    spec = spec_of()
    await stopping.create_job(spec)
    assert await stopping.claim_next("w1", 0) is not None
    await stopping.record_result(spec.id, 0, result(0), "w1")
    assert await other.claim_next("w2", 0) is None  # held, lease of 30 s
    await stopping.close()
    resumed = await other.claim_next("w2", 0)
    assert resumed is not None and resumed.next_index == 1


async def test_a_burst_of_calls_waits_for_connections_instead_of_failing(
    open_store: OpenStore,
) -> None:
    """Hundreds of subscribers arriving at once: every call is served, none fails for want
    of a pooled connection (redis-py's default pool would raise "Too many connections")."""
    store = await open_store()
    spec = spec_of()
    await store.create_job(spec)
    jobs = await asyncio.gather(*(store.get_job(spec.id) for _ in range(400)))
    assert all(j is not None and j["id"] == spec.id for j in jobs)
    last = (await store.read_events(spec.id, None)).events[-1].id
    waiting = [
        asyncio.create_task(store.read_events(spec.id, last, block_s=5.0)) for _ in range(150)
    ]
    await asyncio.sleep(0.2)
    await store.claim_next("w1", 0)
    pages = await asyncio.wait_for(asyncio.gather(*waiting), 10.0)
    assert all([loads(e.json)["status"] for e in p.events] == ["processing"] for p in pages)


async def test_key_retirements_are_shared_by_every_process(open_store: OpenStore) -> None:
    one, other = await open_store(), await open_store()
    midnight_ms = now_ms() + 60_000
    await one.key_registry().retire("quota-key", midnight_ms, "daily quota (010)")
    await one.key_registry().retire("auth-key", None, "auth failed (401)")
    assert await other.key_registry().retired() == {"quota-key": midnight_ms, "auth-key": None}
    # A later daily-quota retirement does not bring back a key retired for good.
    await other.key_registry().retire("auth-key", midnight_ms, "daily quota (010)")
    assert (await one.key_registry().retired())["auth-key"] is None
