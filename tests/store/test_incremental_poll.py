"""The incremental poll (``get_job_json_since``) and the kept stats counters, on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.codec import dumps, loads
from server.model import COMPLETED, FAILED, now_ms
from server.store import Store
from tests.store.test_store_contract import MakeStore, make_spec, result_of, trim_log


@pytest.fixture
async def make_store(store_url: str) -> AsyncIterator[MakeStore]:
    factory = MakeStore(store_url)
    yield factory
    for store in factory.opened:
        await store.close()


@pytest.fixture
async def store(make_store: MakeStore) -> Store:
    return await make_store()


async def since(store: Store, job_id: str, event_id: str) -> tuple[dict[str, Any], bool]:
    got = await store.get_job_json_since(job_id, event_id)
    assert got is not None
    return loads(got[0]), got[1]


async def running_job(store: Store, done: int, total: int = 6) -> tuple[str, list[str]]:
    """A processing job with ``done`` results; returns its id and its event ids so far."""
    spec = make_spec(tuple(f"k{i}" for i in range(total)))
    await store.create_job(spec)
    await store.claim_next("w1", 0)
    for i in range(done):
        await store.record_result(spec.id, i, {"index": i, **result_of(f"k{i}", i)}, "w1")
        if i == 1:
            await store.append_progress(spec.id, {"ratePerSec": 1.5})
    return spec.id, [e.id for e in (await store.read_events(spec.id, None)).events]


async def test_since_answers_the_job_with_only_the_results_after_that_event(
    store: Store,
) -> None:
    job_id, ids = await running_job(store, done=4)
    # Log: 1 pending, 2 processing, 3 r0, 4 r1, 5 progress, 6 r2, 7 r3.
    assert ids == ["1", "2", "3", "4", "5", "6", "7"]
    full = loads(await store.get_job_json(job_id) or "")
    for event_id, first in (("0", 0), ("1", 0), ("2", 0), ("3", 1), ("4", 2), ("5", 2),
                            ("6", 3), ("7", 4)):  # fmt: skip
        job, gap = await since(store, job_id, event_id)
        assert not gap
        assert job == {**full, "results": full["results"][first:]}, event_id
        assert [r["index"] for r in job["results"]] == list(range(first, 4))
    assert (await since(store, job_id, "7"))[0]["lastEventId"] == "7"
    # The same bytes as the full poll's fields: only the results differ.
    text, _ = await store.get_job_json_since(job_id, "0") or ("", True)
    assert text == await store.get_job_json(job_id)


async def test_since_follows_a_job_to_its_end(store: Store) -> None:
    job_id, ids = await running_job(store, done=2, total=3)
    seen: list[dict[str, Any]] = (await since(store, job_id, "0"))[0]["results"]
    last = ids[-1]
    await store.record_result(job_id, 2, {"index": 2, **result_of("k2", 2)}, "w1")
    await store.finish(job_id, COMPLETED, None, "w1")
    job, gap = await since(store, job_id, last)
    assert not gap and job["status"] == COMPLETED and job["lastEventId"] == "7"
    seen += job["results"]
    assert seen == loads(await store.get_job_json(job_id) or "")["results"]
    empty, _ = await since(store, job_id, job["lastEventId"])
    assert empty["results"] == [] and empty["status"] == COMPLETED


async def test_since_sends_again_a_result_replaced_after_it(store: Store) -> None:
    """A search volume that arrives after its keyword's counts replaces a result of the prefix
    a poller already has: the next incremental poll sends it again, once."""
    job_id, ids = await running_job(store, done=3, total=4)
    last = ids[-1]
    updated = {"index": 1, **result_of("k1", 1), "searchVolume": {"total": 70}}
    await store.update_result(job_id, 1, updated, "w1")
    await store.record_result(job_id, 3, {"index": 3, **result_of("k3", 3)}, "w1")
    job, gap = await since(store, job_id, last)
    assert not gap
    assert [r["index"] for r in job["results"]] == [1, 3]
    assert job["results"][0]["searchVolume"] == {"total": 70}
    again, _ = await since(store, job_id, job["lastEventId"])
    assert again["results"] == []


async def test_since_a_trimmed_event_answers_everything_with_gap(store: Store) -> None:
    job_id, _ = await running_job(store, done=4)
    await trim_log(store, job_id, 3)  # events 1..3 are gone
    full = loads(await store.get_job_json(job_id) or "")
    job, gap = await since(store, job_id, "2")
    assert gap and job == full and len(job["results"]) == 4
    job, gap = await since(store, job_id, "4")  # still held: no gap
    assert not gap and [r["index"] for r in job["results"]] == [2, 3]


async def test_since_refuses_ids_this_log_never_issued(store: Store) -> None:
    job_id, ids = await running_job(store, done=1)
    for bad in (str(int(ids[-1]) + 1), "abc", "-1", "1.5"):
        with pytest.raises(ValueError):
            await store.get_job_json_since(job_id, bad)
    assert await store.get_job_json_since(make_spec().id, "1") is None


async def test_since_on_a_pending_job(store: Store) -> None:
    first, second = make_spec(("a",)), make_spec(("b",))
    await store.create_job(first)
    await store.create_job(second)
    job, gap = await since(store, second.id, "1")
    assert not gap and job["results"] == [] and job["queuePosition"] == 2


async def test_stats_follow_every_change_and_cleanup(make_store: MakeStore) -> None:
    store = await make_store(job_ttl_s=60.0)
    specs = [make_spec((f"s{i}",)) for i in range(5)]
    for spec in specs:
        await store.create_job(spec)
    durations: list[int] = []
    for outcome in (COMPLETED, COMPLETED, FAILED):
        claimed = await store.claim_next("w1", 0)
        assert claimed is not None
        await store.finish(claimed.id, outcome, None, "w1")
        job = await store.get_job(claimed.id, with_results=False)
        assert job is not None
        if outcome == COMPLETED:
            durations.append(job["completedAt"] - job["startedAt"])
    await store.claim_next("w1", 0)
    stats = await store.job_stats()
    assert stats == {
        "byStatus": {"pending": 1, "processing": 1, "cancelled": 0, "completed": 2, "failed": 1},
        "queueDepth": 1,
        "avgJobMs": round(sum(durations) / 2),
    }
    await store.request_cancel(specs[4].id)
    assert (await store.job_stats())["byStatus"]["cancelled"] == 1
    assert await store.cleanup(now_ms() + 61_000) == 4
    assert await store.job_stats() == {
        "byStatus": {"pending": 0, "processing": 1, "cancelled": 0, "completed": 0, "failed": 0},
        "queueDepth": 0,
        "avgJobMs": None,
    }
    assert dumps(stats)  # plain JSON types
