"""Keyword history over HTTP on both engines: each result's ``previous`` on a second run, the
series, the search, and the errors of both endpoints."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.appkeys import WORKER
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver, fake_total


async def run_batch(client: Any, keywords: list[str]) -> dict[str, Any]:
    resp = await client.post(
        "/api/documents/batch", json={"keywords": keywords, "categories": ["blog", "news"]}
    )
    job_id = (await resp.json())["jobId"]
    assert await client.app[WORKER].run_until_idle() == [job_id]
    job: dict[str, Any] = (
        await (await client.get(f"/api/documents/status?jobId={job_id}")).json()
    )["job"]
    assert job["status"] == "completed"
    return job


async def test_previous_series_and_search(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    fake, base = fake_naver
    # No cache: the second run counts afresh, so each count is an observation.
    settings = replace(
        base_settings(tmp_path, base), store_url=store_url, run_worker=False, cache_ttl_s=0.0
    )
    client = await make_client(settings)
    first = await run_batch(client, ["캠핑 의자", "맥북"])
    assert [r["previous"] for r in first["results"]] == [{}, {}]

    blog0, news0 = fake_total("캠핑 의자", "blog"), fake_total("캠핑 의자", "news")
    fake.totals[("캠핑 의자", "blog")] = blog0 + 1204
    second = await run_batch(client, ["캠핑 의자"])
    (result,) = second["results"]
    assert result["counts"] == {"blog": blog0 + 1204, "news": news0}
    previous = result["previous"]
    assert {k: v["value"] for k, v in previous.items()} == {"blog": blog0, "news": news0}
    first_seen = previous["blog"]["observedAt"]
    assert first["createdAt"] <= first_seen <= second["createdAt"]

    resp = await client.get("/api/keywords/history", params={"keyword": "캠핑  의자"})
    body = await resp.json()
    assert resp.status == 200 and body["keyword"] == "캠핑 의자"
    series = {s["kind"]: s for s in body["series"]}
    assert list(series) == ["blog", "news"] and series["blog"]["label"] == "블로그"
    assert [p["value"] for p in series["blog"]["points"]] == [blog0, blog0 + 1204]
    assert [p["provider"] for p in series["blog"]["points"]] == ["naver", "naver"]
    assert series["blog"]["points"][0]["observedAt"] == first_seen

    resp = await client.get(
        "/api/keywords/history",
        params={"keyword": "캠핑 의자", "category": "blog", "from": str(first_seen + 1)},
    )
    (only,) = (await resp.json())["series"]
    assert [p["value"] for p in only["points"]] == [blog0 + 1204]

    resp = await client.get("/api/keywords", params={"q": "의자"})
    body = await resp.json()
    assert resp.status == 200 and [k["keyword"] for k in body["keywords"]] == ["캠핑 의자"]
    assert body["keywords"][0]["latest"]["blog"]["value"] == blog0 + 1204
    resp = await client.get("/api/keywords", params={"q": "ㅁㅂ"})
    assert [k["keyword"] for k in (await resp.json())["keywords"]] == ["맥북"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/keywords/history", "missing_keyword"),
        ("/api/keywords/history?keyword=%20%20", "missing_keyword"),
        ("/api/keywords/history?keyword=a&category=nope", "unknown_category"),
        ("/api/keywords/history?keyword=a&from=yesterday", "invalid_time"),
        ("/api/keywords/history?keyword=a&to=99999999999999999999999", "invalid_time"),
        ("/api/keywords/history?keyword=a&from=2026-02-01&to=2026-01-01", "invalid_time_range"),
        ("/api/keywords/history?keyword=a&limit=0", "invalid_limit"),
        ("/api/keywords", "missing_query"),
        ("/api/keywords?q=%20", "missing_query"),
        (f"/api/keywords?q={'가' * 101}", "query_too_long"),
        ("/api/keywords?q=a&limit=101", "invalid_limit"),
        ("/api/keywords?q=a&limit=x", "invalid_limit"),
    ],
)
async def test_errors_are_korean_4xx(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, path: str, code: str
) -> None:
    client = await make_client(base_settings(tmp_path, fake_naver[1], run_worker=False))
    resp = await client.get(path)
    body = await resp.json()
    assert resp.status == 400, body
    assert body["success"] is False and body["code"] == code
    assert any("\uac00" <= ch <= "\ud7a3" for ch in body["error"]), body


async def test_iso_dates_are_kst(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    client = await make_client(base_settings(tmp_path, fake_naver[1], run_worker=False))
    resp = await client.get(
        "/api/keywords/history", params={"keyword": "a", "from": "2026-01-01", "to": "2026-01-02"}
    )
    body = await resp.json()
    # 2026-01-01 00:00 KST is 2025-12-31 15:00 UTC.
    assert (body["from"], body["to"]) == (1767193200000, 1767279600000)
    assert body["series"] == []
