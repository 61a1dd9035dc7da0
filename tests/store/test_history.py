"""Keyword history on both engines: observations kept past their jobs, series, search, pruning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from server.history import Observation
from server.model import COMPLETED, JobSpec, new_job_id, now_ms
from server.settings import Settings
from server.store import Store, store_from_url
from server.work.runtime import prune_history

DAY_MS = 86_400_000
T0 = 1_780_000_000_000  # a fixed moment: observations are not "now"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = store_from_url(store_url, replace(Settings(store_url=store_url), history_days=30.0))
    await s.open()
    yield s
    await s.close()


async def test_series_is_oldest_first_per_kind_and_bounded_by_time(store: Store) -> None:
    h = store.history
    await h.add("캠핑 의자", "blog", 100, "naver", T0)
    await h.add("캠핑 의자", "cafe", 7, "naver", T0 + 1)
    await h.add("캠핑 의자", "blog", 120, "demo", T0 + DAY_MS)
    await h.add("캠핑 의자", "blog", 90, "naver", T0 + 2 * DAY_MS)
    got = await h.series("캠핑 의자", ("blog",), 0, T0 + 10 * DAY_MS, 100)
    assert got == [
        Observation("blog", 100, "naver", T0),
        Observation("blog", 120, "demo", T0 + DAY_MS),
        Observation("blog", 90, "naver", T0 + 2 * DAY_MS),
    ]
    # from/to inclusive; every kind (sorted) when none is named; the limit keeps the newest.
    assert [o.value for o in await h.series("캠핑 의자", None, T0 + 1, T0 + DAY_MS, 100)] == [
        120,
        7,
    ]
    assert [o.value for o in await h.series("캠핑 의자", ("blog",), 0, T0 * 2, 2)] == [120, 90]
    assert await h.series("없는 키워드", None, 0, T0 * 2, 100) == []


async def test_keywords_are_normalised(store: Store) -> None:
    decomposed = "\u110f\u1162\u11b7\u1111\u1175\u11bc"  # 캠핑 as macOS may send it (NFD)
    await store.history.add(f"  {decomposed}   Chair ", "blog", 5, "naver", T0)
    got = await store.history.series("캠핑 chair", ("blog",), 0, T0, 10)
    assert got == [Observation("blog", 5, "naver", T0)]
    found = await store.history.search("캠핑", 10)
    assert [f["keyword"] for f in found] == ["캠핑 chair"]


async def test_recent_is_newest_first(store: Store) -> None:
    for i in range(4):
        await store.history.add("맥북", "news", i, "naver", T0 + i)
    recent = await store.history.recent("맥북", ("news", "blog"), 2)
    assert recent.get("news") == [
        Observation("news", 3, "naver", T0 + 3),
        Observation("news", 2, "naver", T0 + 2),
    ]
    assert recent.get("blog", []) == []


async def test_search_prefix_then_contains_then_initials(store: Store) -> None:
    h = store.history
    for i, kw in enumerate(["캠핑", "캠핑 의자", "겨울 캠핑", "캠프파이어", "의자", "맥북 캠핑장"]):
        await h.add(kw, "blog", 10 + i, "naver", T0 + i)
    await h.add("캠핑", "cafe", 3, "demo", T0 + 100)
    found = await h.search("캠핑", 20)
    # Prefix matches first (in keyword order), then those containing it.
    assert [f["keyword"] for f in found] == ["캠핑", "캠핑 의자", "겨울 캠핑", "맥북 캠핑장"]
    assert found[0]["lastObservedAt"] == T0 + 100
    assert found[0]["latest"] == {
        "blog": {"value": 10, "observedAt": T0, "provider": "naver"},
        "cafe": {"value": 3, "observedAt": T0 + 100, "provider": "demo"},
    }
    assert [f["keyword"] for f in await h.search("캠", 20)] == ["캠프파이어", "캠핑", "캠핑 의자"]
    # Initials: ordered by the initials (ㅋㅍ < ㅋㅍ ㅇㅈ < ㅋㅍㅍㅇㅇ), then the keyword.
    assert [f["keyword"] for f in await h.search("ㅋㅍ", 20)] == ["캠핑", "캠핑 의자", "캠프파이어"]
    assert [f["keyword"] for f in await h.search("ㅇㅈ", 20)] == ["의자"]
    assert [f["keyword"] for f in await h.search("캠핑", 2)] == ["캠핑", "캠핑 의자"]
    assert await h.search("자전거", 20) == []


async def test_latest_keeps_the_newest_when_an_older_one_arrives_late(store: Store) -> None:
    await store.history.add("커피", "blog", 50, "naver", T0 + 10)
    await store.history.add("커피", "blog", 40, "naver", T0)
    (found,) = await store.history.search("커피", 5)
    assert found["latest"]["blog"] == {"value": 50, "observedAt": T0 + 10, "provider": "naver"}


async def test_history_outlives_job_cleanup_and_is_pruned_by_age(store: Store) -> None:
    now = now_ms()
    await store.history.add("오래된", "blog", 1, "naver", now - 40 * DAY_MS)
    await store.history.add("최근", "blog", 2, "naver", now - DAY_MS)
    await store.history.add("최근", "blog", 3, "naver", now)
    spec = JobSpec(new_job_id(now), ("최근",), ("blog",), 1, now, "naver", "c")
    await store.create_job(spec)
    await store.claim_next("w", 0)
    await store.finish(spec.id, COMPLETED, None, "w")
    # Job cleanup a year later deletes the job, not one observation.
    assert await store.cleanup(now + 365 * DAY_MS) == 1
    assert len(await store.history.series("오래된", None, 0, now, 10)) == 1
    assert len(await store.history.series("최근", None, 0, now, 10)) == 2
    # Pruning (30 days) takes the old one and the keyword not seen since.
    assert await prune_history(store, store.settings, now) == 1  # type: ignore[attr-defined]
    assert await store.history.series("오래된", None, 0, now, 10) == []
    assert await store.history.search("오래된", 10) == []
    assert [o.value for o in await store.history.series("최근", None, 0, now, 10)] == [2, 3]
    assert await prune_history(store, store.settings, now) == 0  # type: ignore[attr-defined]


async def test_history_days_zero_keeps_everything(store: Store) -> None:
    await store.history.add("영원", "blog", 1, "naver", 1000)
    forever: Any = replace(store.settings, history_days=0.0)  # type: ignore[attr-defined]
    assert await prune_history(store, forever, now_ms()) == 0
    assert len(await store.history.series("영원", None, 0, now_ms(), 10)) == 1
