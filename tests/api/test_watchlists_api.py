"""Watchlists over HTTP on both engines: create, list, read, change, run now, delete, and the
errors (Korean 4xx, never a 500)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.appkeys import WORKER
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver, fake_total


async def test_watchlist_lifecycle(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]), store_url=store_url, run_worker=False
    )
    client = await make_client(settings)
    resp = await client.post(
        "/api/watchlists",
        json={
            "name": " 캠핑  용품 ",
            "keywords": ["캠핑 의자", " 텐트 "],
            "categories": ["blog"],
            "schedule": {"daily": "09:30"},
        },
    )
    body = await resp.json()
    assert resp.status == 200, body
    wl = body["watchlist"]
    assert (wl["name"], wl["keywords"], wl["categories"]) == (
        "캠핑 용품",
        ["캠핑 의자", "텐트"],
        ["blog"],
    )
    assert wl["schedule"] == {"daily": "09:30"} and wl["paused"] is False
    assert wl["lastRunAt"] is None and wl["nextRunAt"] > wl["createdAt"]
    # A run's calls against what the one key has left today.
    assert wl["quota"] == {
        "callsNeeded": 2,
        "callsLeftToday": 25_000,
        "fits": True,
        "finishesNotBefore": None,
    }
    # 09:30 KST is 00:30 UTC: the next run falls on that minute of some day.
    assert (wl["nextRunAt"] // 60_000) % (24 * 60) == 30
    one = f"/api/watchlists/{wl['id']}"

    listed = (await (await client.get("/api/watchlists")).json())["watchlists"]
    assert [w["id"] for w in listed] == [wl["id"]]
    assert (await (await client.get(one)).json())["watchlist"]["name"] == "캠핑 용품"

    resp = await client.patch(one, json={"paused": True, "schedule": {"everyHours": 6}})
    changed = (await resp.json())["watchlist"]
    assert changed["paused"] is True and changed["nextRunAt"] is None
    assert changed["schedule"] == {"everyHours": 6} and changed["keywords"] == ["캠핑 의자", "텐트"]

    resp = await client.post(f"{one}/run")
    job_id = (await resp.json())["jobId"]
    assert await client.app[WORKER].run_until_idle() == [job_id]
    job = (await (await client.get(f"/api/documents/status?jobId={job_id}")).json())["job"]
    assert job["status"] == "completed"
    assert [r["counts"] for r in job["results"]] == [
        {"blog": fake_total("캠핑 의자", "blog")},
        {"blog": fake_total("텐트", "blog")},
    ]
    after = (await (await client.get(one)).json())["watchlist"]
    assert after["lastJobId"] == job_id and after["lastRunAt"] >= job["createdAt"]

    resp = await client.delete(one)
    assert resp.status == 200 and (await resp.json())["deleted"] == wl["id"]
    resp = await client.get(one)
    assert resp.status == 404 and (await resp.json())["code"] == "watchlist_not_found"


GOOD = {"name": "a", "keywords": ["a"], "schedule": {"everyHours": 1}}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        (
            "POST",
            "/api/watchlists",
            {**GOOD, "schedule": {"daily": "24:00"}},
            400,
            "invalid_schedule",
        ),
        (
            "POST",
            "/api/watchlists",
            {**GOOD, "schedule": {"everyHours": 0}},
            400,
            "invalid_schedule",
        ),
        (
            "POST",
            "/api/watchlists",
            {**GOOD, "schedule": {"everyHours": True}},
            400,
            "invalid_schedule",
        ),
        ("POST", "/api/watchlists", {**GOOD, "schedule": "daily"}, 400, "invalid_schedule"),
        (
            "POST",
            "/api/watchlists",
            {k: v for k, v in GOOD.items() if k != "schedule"},
            400,
            "invalid_schedule",
        ),
        ("POST", "/api/watchlists", {**GOOD, "name": " "}, 400, "invalid_watchlist_name"),
        ("POST", "/api/watchlists", {**GOOD, "keywords": []}, 400, "empty_keywords"),
        ("POST", "/api/watchlists", {**GOOD, "categories": ["x"]}, 400, "unknown_category"),
        ("POST", "/api/watchlists", {**GOOD, "color": "red"}, 400, "invalid_watchlist"),
        ("POST", "/api/watchlists", {**GOOD, "paused": "yes"}, 400, "invalid_watchlist"),
        ("POST", "/api/watchlists", [1], 400, "invalid_watchlist"),
        ("GET", "/api/watchlists/nope", None, 400, "invalid_watchlist_id"),
        ("GET", "/api/watchlists/wl_AAAAAAAAAAAAAAAA", None, 404, "watchlist_not_found"),
        (
            "PATCH",
            "/api/watchlists/wl_AAAAAAAAAAAAAAAA",
            {"paused": True},
            404,
            "watchlist_not_found",
        ),
        ("DELETE", "/api/watchlists/wl_AAAAAAAAAAAAAAAA", None, 404, "watchlist_not_found"),
        ("POST", "/api/watchlists/wl_AAAAAAAAAAAAAAAA/run", None, 404, "watchlist_not_found"),
    ],
)
async def test_watchlist_errors(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    make_client: Any,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
) -> None:
    client = await make_client(base_settings(tmp_path, fake_naver[1], run_worker=False))
    resp = await client.request(method, path, json=body)
    got = await resp.json()
    assert (resp.status, got["code"], got["success"]) == (status, code, False), got
    assert any("\uac00" <= ch <= "\ud7a3" for ch in got["error"]), got
