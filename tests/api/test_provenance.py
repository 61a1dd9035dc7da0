"""Issue 11.1: a cached count carries the provider and upstream that observed it, and is served
only to the same provider and upstream, on both engines; counts cached before that was
recorded are dropped when the store opens."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from server.appkeys import WORKER
from server.settings import Settings
from server.store import store_from_url
from server.work.providers.demo import demo_count
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver, fake_total

KEYWORDS = ["맥북", "리뷰", "커피"]


async def run_batch(client: Any, keywords: list[str]) -> dict[str, Any]:
    resp = await client.post(
        "/api/documents/batch", json={"keywords": keywords, "categories": ["blog"]}
    )
    job_id = (await resp.json())["jobId"]
    await client.app[WORKER].run_until_idle()
    status = await client.get(f"/api/documents/status?jobId={job_id}")
    job: dict[str, Any] = (await status.json())["job"]
    return job


async def test_demo_counts_are_never_served_as_naver_counts(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    fake, base = fake_naver
    naver = replace(base_settings(tmp_path, base), store_url=store_url, run_worker=False)
    demo = replace(naver, provider="demo", naver_keys=())

    first = await make_client(demo)
    job = await run_batch(first, KEYWORDS)
    assert [r["counts"]["blog"] for r in job["results"]] == [
        demo_count(k, "blog") for k in KEYWORDS
    ]
    await first.close()

    # The same store with Naver credentials: every count goes upstream, none from the cache.
    second = await make_client(naver)
    job = await run_batch(second, KEYWORDS)
    assert len(fake.calls) == 3
    assert [(r["source"], r["cached"], r["counts"]["blog"]) for r in job["results"]] == [
        ("naver", [], fake_total(k, "blog")) for k in KEYWORDS
    ]
    # Naver's count, cached now, is served to Naver with the time it was observed ...
    again = await run_batch(second, KEYWORDS[:1])
    result = again["results"][0]
    assert (result["cached"], result["counts"]["blog"]) == (["blog"], fake_total("맥북", "blog"))
    assert isinstance(result["observedAt"]["blog"], int)
    assert result["observedAt"]["blog"] <= again["createdAt"]
    await second.close()

    # ... and never to the demo provider (the reverse of the bug: /count in demo mode).
    third = await make_client(demo)
    resp = await third.get("/api/documents/count?keyword=맥북&categories=blog")
    body = await resp.json()
    assert (body["result"]["source"], body["counts"]["blog"]) == (
        "demo",
        demo_count("맥북", "blog"),
    )
    assert body["result"]["cached"] == ["blog"]  # the demo's own earlier count

    # Another upstream base URL is another source too.
    elsewhere = await make_client(replace(naver, naver_base_url=base + "/"))  # same, normalised
    job = await run_batch(elsewhere, KEYWORDS[:1])
    assert job["results"][0]["cached"] == ["blog"]
    moved = await make_client(replace(naver, naver_base_url=base.replace("/v1/search", "/v2")))
    job = await run_batch(moved, KEYWORDS[:1])
    # Not served from the cache: asked of the other upstream (which has no such path here).
    assert job["results"][0]["cached"] == [] and job["results"][0]["counts"] == {}


async def test_sqlite_cache_rows_of_unknown_origin_are_dropped_on_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the table as an earlier version left it
        db.execute(
            "CREATE TABLE cache (keyword TEXT NOT NULL, category TEXT NOT NULL, "
            "count INTEGER NOT NULL, expires_at INTEGER NOT NULL, "
            "PRIMARY KEY (keyword, category)) WITHOUT ROWID"
        )
        db.execute("INSERT INTO cache VALUES ('맥북', 'blog', 777, 99999999999999)")
    url = f"sqlite:///{path}"
    store = store_from_url(url, Settings(store_url=url))
    await store.open()
    try:
        for origin in ("demo", "naver https://openapi.naver.com/v1/search"):
            assert await store.cache_get(origin, "맥북", ("blog",)) == {}
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "cache" not in tables and "counts" in tables


async def test_redis_cache_keys_of_unknown_origin_are_dropped_on_upgrade(redis_url: str) -> None:
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await raw.set("dc:cache:blog:맥북", 777)
        await raw.set("dc:cache:news:리뷰", 5)
        await raw.set("dc:job:unrelated", 1)
        store = store_from_url(redis_url, Settings(store_url=redis_url))
        await store.open()
        try:
            assert await raw.keys("dc:cache:*") == []
            assert await raw.get("dc:job:unrelated") == "1"
            for origin in ("demo", "naver https://openapi.naver.com/v1/search"):
                assert await store.cache_get(origin, "맥북", ("blog",)) == {}
        finally:
            await store.close()
    finally:
        await raw.aclose()
