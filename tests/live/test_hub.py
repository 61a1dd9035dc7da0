"""The hub without HTTP: hand-off from catch-up to the live feed under concurrent appends, feeds'
lifetime, one encoding per event, and ids treated as opaque tokens."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from server.errors import JOB_NOT_FOUND
from server.events import Event, EventPage
from server.live.hub import Hub, Start, Subscription
from server.live.outbox import END, Delivery, Outbox, Page
from server.model import JOBS_FEED
from server.settings import Settings
from server.store.base import Store
from server.store.redis import RedisStore
from server.store.sqlite import SqliteStore
from tests.support.common import wait_until
from tests.support.streams import WORKER_ID, create_job, log_of, result


class OpaqueIds(SqliteStore):
    """SQLite underneath, but every event id the hub sees is a random token, in no order that
    comparing strings or numbers could recover (as with any engine's opaque ids)."""

    def __init__(self, url: str, settings: Settings) -> None:
        super().__init__(url, settings)
        self._to_token: dict[str, str] = {"0": "origin"}
        self._to_seq: dict[str, str] = {"origin": "0"}

    def token(self, seq: str) -> str:
        if seq not in self._to_token:
            token = f"{secrets.token_hex(3)}-{random.randint(0, 9)}"
            self._to_token[seq] = token
            self._to_seq[token] = seq
        return self._to_token[seq]

    def _rename(self, event: Event) -> Event:
        token = self.token(event.id)
        payload = json.loads(event.json)
        payload["id"] = token
        return Event(token, event.type, json.dumps(payload))

    async def read_events(
        self, job_id: str, after: str | None, *, limit: int = 1000, block_s: float = 0.0
    ) -> EventPage:
        if after is not None and after not in self._to_seq:
            raise ValueError(f"unknown id {after!r}")
        seq = None if after is None else self._to_seq[after]
        page = await super().read_events(job_id, seq, limit=limit, block_s=block_s)
        return EventPage([self._rename(e) for e in page.events], page.gap)

    async def get_job(self, job_id: str, *, with_results: bool = True) -> dict[str, Any] | None:
        job = await super().get_job(job_id, with_results=with_results)
        if job is not None:
            job["lastEventId"] = self.token(job["lastEventId"])
        return job

    async def last_event_id(self, job_id: str) -> str | None:
        seq = await super().last_event_id(job_id)
        return None if seq is None else self.token(seq)


def hub_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "subscriber_queue_max": 32,  # pages of 8 and a ring of 32: hand-offs happen often
        "feed_block_s": 0.05,
        **overrides,
    }
    return replace(Settings(store_url=f"sqlite:///{tmp_path}/hub.db"), **values)


@pytest.fixture(params=["sqlite", "opaque", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """SQLite, SQLite behind opaque ids, and a real Redis, where the feed's blocking network
    reads make hand-off races likeliest."""
    settings = hub_settings(tmp_path)
    opened: Store
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        opened = RedisStore(url, replace(settings, store_url=url))
    else:
        engine = SqliteStore if request.param == "sqlite" else OpaqueIds
        opened = engine(settings.store_url, settings)
    await opened.open()
    yield opened
    await opened.close()


class Consumer:
    """A subscriber draining its outbox as a connection's pump would."""

    def __init__(self, hub: Hub, key: str) -> None:
        self.hub = hub
        self.key = key
        self.cut = False
        self.outbox = Outbox(hub.capacity, self._on_cut)
        self.got: list[Delivery] = []
        self.sub: Subscription | None = None
        self.task: asyncio.Task[None] | None = None

    def _on_cut(self) -> None:
        self.cut = True

    async def join(self, resume: str | None, make: type[Subscription] = Subscription) -> None:
        start = await self.hub.open(self.key, resume)
        self.sub = make(self.key, self.outbox, start.last)
        self.hub.subscribe(self.sub, start)
        self.task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while (item := await self.outbox.take()) is not None:
            delivery = item[1]
            if delivery.type != END:
                self.got.append(delivery)
            if delivery.final:
                return

    def leave(self) -> None:
        assert self.sub is not None
        self.hub.leave(self.sub)
        self.outbox.close("left")


def expected_after(log: list[Event], after: str) -> list[tuple[str, str]]:
    ids = [e.id for e in log]
    return [(e.id, e.type) for e in log[ids.index(after) + 1 :]]


async def test_joining_at_random_points_gets_every_event_once_in_order(
    store: Store, tmp_path: Path
) -> None:
    """Writer and subscribers race: each subscriber joins mid-way (snapshot, or a random older
    id), catches up from the store, hands off to the feed; none may miss or repeat an event."""
    rng = random.Random(20240601)
    hub = Hub(store, hub_settings(tmp_path))
    n = 400
    job_id = await create_job(store, [f"k{i}" for i in range(n)])
    assert await store.claim_next(WORKER_ID, 0) is not None
    joined: list[tuple[Consumer, str | None]] = []

    async def write() -> None:
        for i in range(n):
            await store.record_result(job_id, i, result(i, f"k{i}"), WORKER_ID)
            if rng.random() < 0.3:
                await asyncio.sleep(0)  # let joiners and the feed interleave with the writer
        await store.finish(job_id, "completed", None, WORKER_ID)

    async def join() -> None:
        for _ in range(60):
            ids = [e.id for e in await log_of(store, job_id)]
            resume = rng.choice([None, ids[-1], *ids])
            consumer = Consumer(hub, job_id)
            await consumer.join(resume)
            joined.append((consumer, resume))
            for _ in range(rng.randint(0, 6)):
                await asyncio.sleep(0)

    async with asyncio.timeout(30):
        await asyncio.gather(write(), join())
        await asyncio.gather(*(c.task for c, _ in joined if c.task is not None))

    log = await log_of(store, job_id)
    assert len(log) == n + 3
    for consumer, resume in joined:
        got = [(d.id, d.type) for d in consumer.got]
        if resume is None:
            snapshot = got.pop(0)
            assert snapshot[1] == "snapshot"
            assert got == expected_after(log, snapshot[0])
        else:
            assert got == expected_after(log, resume)
        assert not consumer.cut
    await wait_until(lambda: hub.stats()["feeds"] == 0)
    assert hub.stats()["subscribers"] == 0
    await hub.close()


async def test_each_event_is_framed_once_for_all_subscribers(store: Store, tmp_path: Path) -> None:
    hub = Hub(store, hub_settings(tmp_path))
    job_id = await create_job(store, ["a"])
    consumers = [Consumer(hub, job_id) for _ in range(3)]
    for consumer in consumers:
        await consumer.join(None)
    await wait_until(lambda: hub.stats()["subscribers"] == 3)
    assert await store.claim_next(WORKER_ID, 0) is not None
    await store.record_result(job_id, 0, result(0, "a"), WORKER_ID)
    await store.finish(job_id, "completed", None, WORKER_ID)
    async with asyncio.timeout(10):
        await asyncio.gather(*(c.task for c in consumers if c.task is not None))
    live = [c.got[1:] for c in consumers]  # after each one's own snapshot
    assert [d.type for d in live[0]] == ["status", "result", "status"]
    for other in live[1:]:
        assert all(a is b for a, b in zip(live[0], other, strict=True))
        assert all(a.sse() is b.sse() for a, b in zip(live[0], other, strict=True))
    await hub.close()


async def test_feed_stops_after_terminal_and_when_nobody_watches(
    store: Store, tmp_path: Path
) -> None:
    hub = Hub(store, hub_settings(tmp_path))
    done_job = await create_job(store, ["a"])
    idle_job = await create_job(store, ["b"])
    watcher = Consumer(hub, done_job)
    await watcher.join(None)
    idle = Consumer(hub, idle_job)
    await idle.join(None)
    await wait_until(lambda: (hub.stats()["feeds"], hub.stats()["subscribers"]) == (2, 2))

    # Terminal: the feed publishes the last status, ends its subscriptions and stops.
    await store.request_cancel(done_job)
    async with asyncio.timeout(10):
        assert watcher.task is not None
        await watcher.task
    assert [d.type for d in watcher.got] == ["snapshot", "status"]
    assert json.loads(watcher.got[-1].json)["status"] == "cancelled"
    await wait_until(lambda: hub.feed(done_job) is None)

    # Nobody watches: the idle feed stops after its current blocking read.
    idle.leave()
    await wait_until(lambda: hub.feed(idle_job) is None)
    assert hub.stats()["feeds"] == 0
    await hub.close()


async def test_jobs_feed_snapshot_is_consistent_with_its_id(store: Store, tmp_path: Path) -> None:
    hub = Hub(store, hub_settings(tmp_path))
    first = await create_job(store, ["a"])
    start = await hub.open(JOBS_FEED, None)
    (jobs_event,) = start.deliveries
    payload = json.loads(jobs_event.json)
    assert payload["type"] == "jobs"
    assert [j["id"] for j in payload["jobs"]] == [first]
    assert payload["id"] == jobs_event.id == await store.last_event_id(JOBS_FEED)
    second = await create_job(store, ["b"])
    consumer = Consumer(hub, JOBS_FEED)
    await consumer.join(jobs_event.id)
    await wait_until(lambda: len(consumer.got) == 1)
    (job_event,) = consumer.got
    assert job_event.type == "job"
    assert json.loads(job_event.json)["job"]["id"] == second
    consumer.leave()
    await hub.close()


async def test_open_rejects_ids_the_log_never_held(store: Store, tmp_path: Path) -> None:
    from server.errors import ApiError

    hub = Hub(store, hub_settings(tmp_path))
    job_id = await create_job(store, ["a"])
    other = await create_job(store, ["b"])
    await store.record_result(other, 0, result(0, "b"), WORKER_ID)
    foreign = (await log_of(store, other))[-1].id  # "2" in sqlite: not in job_id's log
    for bad in ("nonsense", foreign):
        with pytest.raises(ApiError) as caught:
            await hub.open(job_id, bad)
        assert (caught.value.status, caught.value.code) == (400, "invalid_event_id")
    (pending,) = await log_of(store, job_id)
    assert await hub.open(job_id, pending.id) == Start([], pending.id)
    await hub.close()


class GatedStore(SqliteStore):
    """Feed reads (the blocking ones) wait at a gate, so a test can hold a feed behind."""

    def __init__(self, url: str, settings: Settings) -> None:
        super().__init__(url, settings)
        self.gate = asyncio.Event()
        self.gate.set()
        self.parked = 0  # feed reads held at the gate
        self.feed_reads = 0  # feed reads past it
        self.catch_up_reads = 0

    async def read_events(
        self, job_id: str, after: str | None, *, limit: int = 1000, block_s: float = 0.0
    ) -> EventPage:
        if block_s > 0:
            self.parked += 1
            await self.gate.wait()
            self.parked -= 1
            self.feed_reads += 1
        else:
            self.catch_up_reads += 1
        return await super().read_events(job_id, after, limit=limit, block_s=block_s)


async def test_subscriber_ahead_of_a_lagging_feed_waits_for_it(tmp_path: Path) -> None:
    """A snapshot newer than the feed's position: the subscriber must neither re-read what the
    feed will publish nor skip it; it attaches once the feed reaches its id. The feed block
    (60 s) is far beyond the test's timeout: only the feed's wake-up can get it there."""
    settings = hub_settings(tmp_path, feed_block_s=60.0)
    store = GatedStore(settings.store_url, settings)
    await store.open()
    hub = Hub(store, settings)
    job_id = await create_job(store, ["a", "b"])
    early = Consumer(hub, job_id)
    await early.join(None)
    await wait_until(lambda: store.feed_reads == 1)  # the feed waits inside its first read

    store.gate.clear()
    assert await store.claim_next(WORKER_ID, 0) is not None  # event 2: the feed publishes it
    await wait_until(lambda: len(early.got) == 2 and store.parked == 1)  # and is held at the gate
    await store.record_result(job_id, 0, result(0, "a"), WORKER_ID)  # 3 and 4: the feed lags
    await store.record_result(job_id, 1, result(1, "b"), WORKER_ID)

    late = Consumer(hub, job_id)
    reads_before = store.catch_up_reads
    await late.join(None)  # its snapshot is at 4, the feed at 2
    await wait_until(lambda: store.catch_up_reads >= reads_before + 1)
    assert late.sub is not None and late.sub.feed is None
    assert [d.id for d in late.got] == ["4"]

    store.gate.set()
    await wait_until(lambda: late.sub is not None and late.sub.feed is not None)
    await store.finish(job_id, "completed", None, WORKER_ID)
    async with asyncio.timeout(10):
        await asyncio.gather(*(c.task for c in (early, late) if c.task is not None))
    assert [(d.id, d.type) for d in early.got] == [
        ("1", "snapshot"),
        ("2", "status"),
        ("3", "result"),
        ("4", "result"),
        ("5", "status"),
    ]
    assert [(d.id, d.type) for d in late.got] == [("4", "snapshot"), ("5", "status")]
    await hub.close()
    await store.close()


async def vanish(store: Store, job_id: str) -> None:
    """The job gone from under the hub: its rows deleted, or Redis emptied (a restart without
    persistence)."""
    if isinstance(store, RedisStore):
        client = aioredis.from_url(store.url)
        await client.flushdb()
        await client.aclose()
    else:
        with sqlite3.connect(store.path) as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


async def test_a_subscriber_catching_up_when_its_job_vanishes_gets_job_not_found(
    store: Store, tmp_path: Path
) -> None:
    """The job goes while the subscription is still catching up, after the feed that found it
    gone has ended its own subscribers and stopped (the WebSocket then saw no frame at all):
    with no feed left, the catch-up itself must end with the ``job_not_found`` frame."""
    hub = Hub(store, hub_settings(tmp_path))
    job_id = await create_job(store, ["a"])
    start = await hub.open(job_id, None)
    await vanish(store, job_id)
    outbox: Outbox[Subscription] = Outbox(hub.capacity, lambda: None)
    sub = Subscription(job_id, outbox, start.last)
    hub.subscribe(sub, start)
    got: list[Delivery] = []
    async with asyncio.timeout(10):
        while not (got and got[-1].final):
            item = await outbox.take()
            assert item is not None
            got.append(item[1])
    assert [d.type for d in got] == ["snapshot", END]
    assert json.loads(got[-1].json) == {
        "type": "error",
        "code": "job_not_found",
        "message": JOB_NOT_FOUND().message,
        "jobId": job_id,
    }
    assert hub.feed(job_id) is None  # and no feed was started for a job that is gone
    await hub.close()


class Recording(Subscription):
    """A subscription that notes the event types of every page its feed publishes to it."""

    def __init__(self, key: str, outbox: Outbox[Subscription], last: str | None) -> None:
        super().__init__(key, outbox, last)
        self.pages: list[list[str]] = []

    def offer_page(self, page: Page) -> None:
        self.pages.append([d.type for d in page.deliveries])
        super().offer_page(page)


async def test_a_feed_whose_fan_out_took_long_sends_what_committed_meanwhile_as_one_page(
    store: Store, tmp_path: Path
) -> None:
    """The fan-out "took" 10 ms (the feed's clock says so), so the feed waits 2 × 10 ms before
    its next read; the three results and the last status committed during that wait go out as
    one page."""
    hub = Hub(store, hub_settings(tmp_path, feed_pause_factor=2.0))
    hub.pace.clock = itertools.count(0.0, 0.01).__next__
    paused: list[float] = []
    in_pause = asyncio.Event()
    release = asyncio.Event()

    async def held(pause_s: float) -> None:
        paused.append(pause_s)
        in_pause.set()
        await release.wait()

    hub.pace.wait = held
    job_id = await create_job(store, ["a", "b", "c"])
    consumer = Consumer(hub, job_id)
    await consumer.join(None, Recording)
    sub = consumer.sub
    assert isinstance(sub, Recording)
    await wait_until(lambda: hub.stats()["subscribers"] == 1)

    assert await store.claim_next(WORKER_ID, 0) is not None
    async with asyncio.timeout(10):
        await in_pause.wait()
    assert sub.pages == [["status"]]
    for i, word in enumerate(["a", "b", "c"]):
        await store.record_result(job_id, i, result(i, word), WORKER_ID)
    await store.finish(job_id, "completed", None, WORKER_ID)
    release.set()
    async with asyncio.timeout(10):
        assert consumer.task is not None
        await consumer.task

    assert sub.pages[1:] == [["result", "result", "result", "status"]]
    assert paused[0] == pytest.approx(0.02)
    assert [d.type for d in consumer.got] == [
        "snapshot",
        "status",
        "result",
        "result",
        "result",
        "status",
    ]
    await hub.close()


async def test_a_feed_with_no_pause_factor_never_waits(store: Store, tmp_path: Path) -> None:
    hub = Hub(store, hub_settings(tmp_path, feed_pause_factor=0.0))
    hub.pace.clock = itertools.count(0.0, 1.0).__next__  # every fan-out "takes" a second
    paused: list[float] = []

    async def noted(pause_s: float) -> None:
        paused.append(pause_s)

    hub.pace.wait = noted
    job_id = await create_job(store, ["a"])
    consumer = Consumer(hub, job_id)
    await consumer.join(None)
    await wait_until(lambda: hub.stats()["subscribers"] == 1)
    assert await store.claim_next(WORKER_ID, 0) is not None
    await store.record_result(job_id, 0, result(0, "a"), WORKER_ID)
    await store.finish(job_id, "completed", None, WORKER_ID)
    async with asyncio.timeout(10):
        assert consumer.task is not None
        await consumer.task
    assert [d.type for d in consumer.got] == ["snapshot", "status", "result", "status"]
    assert paused == []
    await hub.close()
