"""Keyword history over HTTP on both engines: each result's ``previous`` on a second run, the
series, the search, and the errors of both endpoints."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.appkeys import WORKER
from tests.api.test_volumes import expected_row, settings_for
from tests.support.common import base_settings
from tests.support.fakesearchad import FakeSearchAd, fake_volume
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


async def test_volume_kinds_are_kept_and_served(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    fake_ad: tuple[FakeSearchAd, str],
    make_client: Any,
    store_url: str,
) -> None:
    """Issue 14: a fresh search volume is an observation too (volumePc, volumeMobile,
    volumeTotal; a "< 10" part is a bound and is not kept), under the keyword as the job has it,
    and the series endpoint takes those kinds beside the categories; on both engines."""
    naver_base, ad_base = fake_naver[1], fake_ad[1]
    # Found, not assumed: "< 10" on PC, a figure on mobile.
    rare = next(
        f"드문 키워드{i}"
        for i in range(500)
        if fake_volume(f"드문키워드{i}")[0] == "< 10" and fake_volume(f"드문키워드{i}")[1] != "< 10"
    )
    settings = settings_for(
        tmp_path, naver_base, ad_base, store_url, cache_ttl_s=0.0, volume_cache_ttl_s=0.0
    )
    client = await make_client(settings)
    keywords = ["캠핑 의자", "캠핑의자", rare]
    jobs = []
    for _ in range(2):
        resp = await client.post(
            "/api/documents/batch", json={"keywords": keywords, "categories": ["blog"]}
        )
        job_id = (await resp.json())["jobId"]
        assert await client.app[WORKER].run_until_idle() == [job_id]
        jobs.append(
            (await (await client.get(f"/api/documents/status?jobId={job_id}")).json())["job"]
        )
    assert [r["searchVolume"]["cached"] for job in jobs for r in job["results"]] == [False] * 6
    seen = [job["results"][0]["searchVolume"]["observedAt"] for job in jobs]
    assert seen[0] < seen[1]
    row = expected_row("캠핑 의자")
    assert not row["pcBelow"] and not row["mobileBelow"]

    resp = await client.get(
        "/api/keywords/history",
        params={"keyword": "캠핑 의자", "category": "volumePc,volumeTotal,blog,volumePc"},
    )
    assert resp.status == 200
    series = (await resp.json())["series"]
    assert [(s["kind"], s["label"]) for s in series] == [
        ("volumePc", "PC 검색량"),
        ("volumeTotal", "월간 검색량"),
        ("blog", "블로그"),
    ]
    assert series[0]["points"] == [
        {"observedAt": at, "value": row["pc"], "provider": "naver"} for at in seen
    ]
    assert series[1]["points"] == [
        {"observedAt": at, "value": row["total"], "provider": "naver"} for at in seen
    ]
    assert [p["value"] for p in series[2]["points"]] == [fake_total("캠핑 의자", "blog")] * 2

    # 캠핑의자 shares the Search Ad row (one hint) but has its own history.
    resp = await client.get(
        "/api/keywords/history", params={"keyword": "캠핑의자", "category": "volumeMobile"}
    )
    (mobile,) = (await resp.json())["series"]
    seen_joined = [job["results"][1]["searchVolume"]["observedAt"] for job in jobs]
    assert mobile["points"] == [
        {"observedAt": at, "value": row["mobile"], "provider": "naver"} for at in seen_joined
    ]

    # A "< 10" on PC: neither PC nor the total is a figure; mobile is.
    rare_row = expected_row(rare)
    resp = await client.get("/api/keywords/history", params={"keyword": rare})
    kinds = {s["kind"]: [p["value"] for p in s["points"]] for s in (await resp.json())["series"]}
    assert kinds == {
        "blog": [fake_total(rare, "blog")] * 2,
        "volumeMobile": [rare_row["mobile"]] * 2,
    }

    resp = await client.get(
        "/api/keywords/history", params={"keyword": "캠핑 의자", "category": "blog,volumePC"}
    )
    assert resp.status == 400
    assert await resp.json() == {
        "success": False,
        "error": "알 수 없는 카테고리 또는 검색량 종류: volumePC "
        "(가능: blog, cafe, news, web, kin, book, encyc, shop, image, doc, "
        "volumePc, volumeMobile, volumeTotal)",
        "code": "unknown_category",
    }
