"""The watchlist scheduler on both engines with a fake clock (nothing waits for real time):
due runs, one job per run with two schedulers at once (two nodes on Redis), no second job after
a restart, a missed run after downtime run once, paused lists left alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from server.kst import KST
from server.model import JobSpec, new_job_id
from server.settings import Settings
from server.store import Store, store_from_url
from server.work.scheduler import WatchScheduler

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def kst(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=KST).timestamp() * 1000)


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


class Stores:
    def __init__(self, url: str) -> None:
        self.url = url
        self.opened: list[Store] = []

    async def open(self) -> Store:
        store = store_from_url(self.url, Settings(store_url=self.url))
        await store.open()
        self.opened.append(store)
        return store

    async def close(self, store: Store) -> None:
        self.opened.remove(store)
        await store.close()


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[Stores]:
    s = Stores(store_url)
    yield s
    for store in list(s.opened):
        await store.close()


def watchlist(created_ms: int, schedule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "wl_" + "a" * 16,
        "name": "캠핑 용품",
        "keywords": ["캠핑 의자", "텐트"],
        "categories": ["blog"],
        "schedule": schedule,
        "paused": False,
        "createdAt": created_ms,
        "updatedAt": created_ms,
        "lastRunAt": None,
        "lastJobId": None,
        "lastDueAt": None,
        **extra,
    }


async def job_count(store: Store) -> int:
    return len(await store.list_jobs(200))


async def test_daily_run_is_due_once_at_its_kst_time(stores: Stores) -> None:
    store = await stores.open()
    clock = Clock(kst("2026-03-01T08:00"))
    await store.watchlists.create(watchlist(clock.ms, {"daily": "09:00"}))
    scheduler = WatchScheduler(store, "naver", clock)
    clock.ms = kst("2026-03-01T08:59:59")
    assert await scheduler.tick() == []
    clock.ms = kst("2026-03-01T09:00")
    (job_id,) = await scheduler.tick()
    job = await store.get_job(job_id)
    assert job is not None and job["status"] == "pending" and job["categories"] == ["blog"]
    assert [r for r in job["results"]] == []
    wl = await store.watchlists.get("wl_" + "a" * 16)
    assert wl is not None
    assert (wl["lastDueAt"], wl["lastJobId"], wl["lastRunAt"]) == (clock.ms, job_id, clock.ms)
    clock.ms = kst("2026-03-01T20:00")
    assert await scheduler.tick() == []
    clock.ms = kst("2026-03-02T09:00:30")
    assert len(await scheduler.tick()) == 1
    assert await job_count(store) == 2


async def test_two_schedulers_at_once_make_one_job(stores: Stores) -> None:
    # On Redis these are two nodes (two connections pools, as two processes would have); on
    # SQLite, two schedulers in the one process that owns the file.
    one = await stores.open()
    two = await stores.open() if stores.url.startswith("redis") else one
    clock = Clock(kst("2026-03-01T08:00"))
    await one.watchlists.create(watchlist(clock.ms, {"daily": "09:00"}))
    clock.ms = kst("2026-03-01T09:00")
    nodes = [WatchScheduler(s, "naver", clock) for s in (one, two, one, two)]
    created = await asyncio.gather(*(n.tick() for n in nodes))
    assert sorted(len(c) for c in created) == [0, 0, 0, 1]
    assert await job_count(one) == 1


async def test_a_restart_does_not_run_it_again(stores: Stores) -> None:
    store = await stores.open()
    clock = Clock(kst("2026-03-01T08:00"))
    await store.watchlists.create(watchlist(clock.ms, {"everyHours": 6}))
    clock.ms = kst("2026-03-01T14:00")
    assert len(await WatchScheduler(store, "naver", clock).tick()) == 1
    await stores.close(store)
    again = await stores.open()
    clock.ms = kst("2026-03-01T14:01")
    assert await WatchScheduler(again, "naver", clock).tick() == []
    assert await job_count(again) == 1


async def test_a_node_dying_mid_run_leaves_one_job(stores: Stores) -> None:
    # A node queued the run's job and died before recording it on the watchlist: the next
    # tick (another node, or after a restart) finds that job instead of making a second.
    store = await stores.open()
    clock = Clock(kst("2026-03-01T08:00"))
    wl = watchlist(clock.ms, {"daily": "09:00"})
    await store.watchlists.create(wl)
    due = kst("2026-03-01T09:00")
    clock.ms = due + 5_000
    spec = JobSpec(new_job_id(due), ("캠핑 의자", "텐트"), ("blog",), 1, due, "naver",
                   f"watchlist:{wl['id']}")  # fmt: skip
    assert await store.create_job(spec, idempotency_key=f"run:{due}") == spec.id
    await stores.close(store)
    again = await stores.open()
    assert await WatchScheduler(again, "naver", clock).tick() == [spec.id]
    assert await job_count(again) == 1
    assert await WatchScheduler(again, "naver", clock).tick() == []
    recorded = await again.watchlists.get(wl["id"])
    assert recorded is not None and recorded["lastJobId"] == spec.id


async def test_missed_runs_run_once(stores: Stores) -> None:
    store = await stores.open()
    clock = Clock(kst("2026-03-01T08:00"))
    await store.watchlists.create(watchlist(clock.ms, {"daily": "09:00"}))
    # Down from before the first run until three days later: one run, for the latest slot.
    clock.ms = kst("2026-03-04T10:30")
    scheduler = WatchScheduler(store, "naver", clock)
    assert len(await scheduler.tick()) == 1
    wl = await store.watchlists.get("wl_" + "a" * 16)
    assert wl is not None and wl["lastDueAt"] == kst("2026-03-04T09:00")
    assert await scheduler.tick() == []
    assert await job_count(store) == 1


async def test_every_n_hours_keeps_its_grid(stores: Stores) -> None:
    store = await stores.open()
    created = kst("2026-03-01T08:10")
    clock = Clock(created)
    await store.watchlists.create(watchlist(created, {"everyHours": 6}))
    scheduler = WatchScheduler(store, "naver", clock)
    for at_h, runs in ((5.9, 0), (6, 1), (7, 0), (13, 1), (13.5, 0), (30, 1)):
        clock.ms = created + int(at_h * HOUR_MS)
        assert len(await scheduler.tick()) == runs, at_h
    wl = await store.watchlists.get("wl_" + "a" * 16)
    assert wl is not None and wl["lastDueAt"] == created + 30 * HOUR_MS


async def test_paused_and_deleted_lists_do_not_run(stores: Stores) -> None:
    store = await stores.open()
    clock = Clock(kst("2026-03-01T08:00"))
    await store.watchlists.create(watchlist(clock.ms, {"daily": "09:00"}, paused=True))
    clock.ms = kst("2026-03-01T09:00")
    assert await WatchScheduler(store, "naver", clock).tick() == []
    assert await store.watchlists.delete("wl_" + "a" * 16)
    assert await store.watchlists.get("wl_" + "a" * 16) is None
    assert await store.watchlists.update("wl_" + "a" * 16, {"paused": False}) is None
    assert await store.watchlists.list() == []
    assert not await store.watchlists.delete("wl_" + "a" * 16)
