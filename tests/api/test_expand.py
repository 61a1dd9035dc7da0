"""POST /api/documents/expand: related keywords by total volume, from the fake Search Ad
upstream and in demo mode; the errors a client can cause or meet, as JSON."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from server.work.providers.demo import demo_volume
from tests.support.common import base_settings
from tests.support.fakesearchad import (
    AD_CUSTOMER,
    AD_LICENSE,
    AD_SECRET,
    RELATED_SUFFIXES,
    FakeSearchAd,
    fake_volume,
)
from tests.support.fakeupstream import FakeNaver


def ad_settings(tmp_path: Path, naver: str, ad: str, **changes: Any) -> Any:
    values: dict[str, Any] = {
        "run_worker": False,
        "volume_provider": "naver",
        "ad_customer_id": AD_CUSTOMER,
        "ad_access_license": AD_LICENSE,
        "ad_secret_key": AD_SECRET,
        "ad_api_base": ad,
        "ad_rate_per_s": 1000.0,
    }
    return replace(base_settings(tmp_path, naver), **{**values, **changes})


def total_of(keyword: str) -> int:
    pc, mobile, _ = fake_volume(keyword)
    return (10 if pc == "< 10" else int(pc)) + (10 if mobile == "< 10" else int(mobile))


async def test_related_keywords_sorted_by_total_volume(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    fake_ad: tuple[FakeSearchAd, str],
    make_client: Any,
) -> None:
    ad, ad_base = fake_ad
    client = await make_client(ad_settings(tmp_path, fake_naver[1], ad_base))
    resp = await client.post(
        "/api/documents/expand", json={"keywords": ["캠핑 의자", "낚시"], "limit": 5}
    )
    body = await resp.json()
    assert resp.status == 200, body
    expected = sorted(
        (f"{h}{s}" for h in ("캠핑의자", "낚시") for s in RELATED_SUFFIXES),
        key=lambda k: (-total_of(k), k),
    )[:5]
    assert [r["keyword"] for r in body["keywords"]] == expected
    assert [r["total"] for r in body["keywords"]] == [total_of(k) for k in expected]
    assert body["source"] == "naver"
    assert [c.hints for c in ad.calls] == [["캠핑의자", "낚시"]]


async def test_demo_relatives_are_deterministic(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        run_worker=False,
        volume_provider="demo",
        ad_rate_per_s=1000.0,
    )
    client = await make_client(settings)
    first = await (await client.post("/api/documents/expand", json={"keywords": ["캠핑"]})).json()
    again = await (await client.post("/api/documents/expand", json={"keywords": ["캠핑"]})).json()

    def strip(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "observedAt"} for r in body["keywords"]]

    assert strip(first) == strip(again) and first["source"] == "demo"
    rows = first["keywords"]
    assert len(rows) == 8
    for row in rows:
        assert {k: v for k, v in row.items() if k not in ("keyword", "observedAt")} == demo_volume(
            row["keyword"]
        )
    assert [r["total"] for r in rows] == sorted((r["total"] for r in rows), reverse=True)


async def test_expand_errors(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    fake_ad: tuple[FakeSearchAd, str],
    make_client: Any,
) -> None:
    off = await make_client(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))
    resp = await off.post("/api/documents/expand", json={"keywords": ["캠핑"]})
    assert resp.status == 409 and (await resp.json())["code"] == "volumes_off"

    client = await make_client(
        ad_settings(tmp_path / "b", fake_naver[1], fake_ad[1], ad_secret_key="wrong")
    )
    for payload, status, code in (
        ({"keywords": ["캠핑"]}, 503, "volume_auth_failed"),
        ({"keywords": []}, 400, "empty_keywords"),
        ({"keywords": ["a"] * 51}, 400, "too_many_keywords"),
        ({"keywords": ["a"], "limit": 0}, 400, "invalid_limit"),
        ({"keywords": ["a"], "limit": "5"}, 400, "invalid_limit"),
        (["a"], 400, "invalid_body"),
    ):
        resp = await client.post("/api/documents/expand", json=payload)
        body = await resp.json()
        assert (resp.status, body["code"], body["success"]) == (status, code, False), payload
        assert body["error"]
