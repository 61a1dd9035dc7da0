"""POST /api/documents/batch answers with the quota plan: calls needed, calls the key pool has
left today (KST), whether the job fits, and the KST day it cannot finish before (both stores)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import STORE
from server.kst import kst_day, next_kst_midnight_ms
from server.model import now_ms
from server.settings import NaverKey
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver


async def test_quota_plan_in_the_batch_answer(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        store_url=store_url,
        run_worker=False,
        max_keywords=3000,
        naver_keys=(NaverKey("test-id", "test-secret"), NaverKey("key-two", "secret-two")),
    )
    client = await make_client(settings)
    registry = client.app[STORE].key_registry()
    for _ in range(3):
        await registry.record_call("test-id", kst_day(now_ms()))
    resp = await client.post(
        "/api/documents/batch",
        json={"keywords": ["맥북", "리뷰", "맥북"], "categories": ["blog", "news"]},
    )
    body = await resp.json()
    # Two distinct keywords x two categories; two keys' quota less the three calls made today.
    assert body["quota"] == {
        "callsNeeded": 4,
        "callsLeftToday": 49_997,
        "fits": True,
        "finishesNotBefore": None,
    }

    await registry.retire("key-two", now_ms() + 3_600_000, "quota")
    keywords = [f"키워드{i}" for i in range(3000)]
    cats = ["blog", "cafe", "news", "web", "kin", "book", "encyc", "shop", "image"]
    before = now_ms()
    resp = await client.post(
        "/api/documents/batch", json={"keywords": keywords, "categories": cats}
    )
    plan = (await resp.json())["quota"]
    assert (plan["callsNeeded"], plan["callsLeftToday"], plan["fits"]) == (27_000, 24_997, False)
    assert plan["finishesNotBefore"] == next_kst_midnight_ms(before)


async def test_no_quota_plan_in_demo_mode(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    client = await make_client(
        base_settings(tmp_path, fake_naver[1], provider="demo", naver_keys=(), run_worker=False)
    )
    resp = await client.post("/api/documents/batch", json={"keywords": ["맥북"]})
    assert (await resp.json())["quota"] is None
