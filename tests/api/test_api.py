"""The HTTP surface of the core issue: the seed's JSON, bad input, and the small endpoints."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from server import errors
from server.appkeys import WORKER
from server.categories import CATEGORIES
from server.events import EVENT_TYPES
from tests.support.common import base_settings
from tests.support.fakeupstream import fake_total


@pytest.fixture
async def client(tmp_path, fake_naver, make_client):
    return await make_client(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))


async def post_batch(client: Any, body: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/documents/batch", json=body)
    return resp.status, await resp.json()


async def test_batch_answers_at_once_with_seed_shape(client, fake_naver):
    fake, _ = fake_naver
    status, body = await post_batch(client, {"keywords": ["맥북", "아이폰"]})
    assert status == 200
    assert set(body) == {"success", "jobId", "message", "quota"}  # quota: new, see test_quota_plan
    assert body["success"] is True
    assert body["message"] == "배치 작업이 시작되었습니다"
    assert body["jobId"].startswith("batch_")
    assert fake.calls == []  # no upstream call on the request path


async def test_job_ids_are_unguessable(client):
    ids = {(await post_batch(client, {"keywords": ["a"]}))[1]["jobId"] for _ in range(5)}
    assert len(ids) == 5
    for job_id in ids:
        _, ms, tail = job_id.split("_", 2)
        assert len(ms) == 13 and len(tail) == 22  # 128 random bits, url-safe


async def test_status_of_pending_job_has_seed_fields(client):
    _, body = await post_batch(client, {"keywords": ["맥북", "아이폰"]})
    resp = await client.get("/api/documents/status", params={"jobId": body["jobId"]})
    assert resp.status == 200
    job = (await resp.json())["job"]
    assert job["id"] == body["jobId"]
    assert job["status"] == "pending"
    assert job["progress"] == {"current": 0, "total": 2}
    assert job["results"] == []
    assert job["categories"] == ["blog", "cafe", "news", "web"]
    assert job["startedAt"] is None and job["completedAt"] is None and job["error"] is None
    assert job["queuePosition"] == 1
    assert job["lastEventId"] == "1"  # the "pending" status event
    assert isinstance(job["createdAt"], int)


async def test_completed_job_results_in_order_with_duplicates(client, fake_naver):
    fake, _ = fake_naver
    keywords = ["맥북", "  아이폰 ", "맥북", "갤럭시 탭"]
    _, body = await post_batch(client, {"keywords": keywords, "categories": ["blog", "kin"]})
    await client.app[WORKER].run_until_idle()
    job = (await (await client.get(f"/api/documents/status?jobId={body['jobId']}")).json())["job"]
    assert job["status"] == "completed"
    assert job["progress"] == {"current": 4, "total": 4}
    assert [r["keyword"] for r in job["results"]] == ["맥북", "아이폰", "맥북", "갤럭시 탭"]
    assert [r["index"] for r in job["results"]] == [0, 1, 2, 3]
    for r in job["results"]:
        assert r["counts"] == {
            "blog": fake_total(r["keyword"], "blog"),
            "kin": fake_total(r["keyword"], "kin"),
        }
        assert r["source"] == "naver" and r["error"] is None
    # The duplicate is counted once: 3 distinct keywords x 2 categories.
    assert len(fake.calls) == 6
    assert len(fake.calls_for("맥북")) == 2
    # status(pending), status(processing), 4 results, status(completed)
    assert job["lastEventId"] == "7"
    assert job["startedAt"] <= job["completedAt"]


async def test_repeat_lookups_served_from_cache(client, fake_naver):
    fake, _ = fake_naver
    await post_batch(client, {"keywords": ["맥북"]})
    await client.app[WORKER].run_until_idle()
    calls_before = len(fake.calls)
    _, body = await post_batch(client, {"keywords": ["맥북", "아이폰"], "categories": ["blog"]})
    await client.app[WORKER].run_until_idle()
    job = (await (await client.get(f"/api/documents/status?jobId={body['jobId']}")).json())["job"]
    assert job["results"][0]["cached"] == ["blog"]
    assert job["results"][1]["cached"] == []
    assert len(fake.calls) == calls_before + 1  # only 아이폰/blog went upstream


async def test_count_endpoint_uses_cache(client, fake_naver):
    fake, _ = fake_naver
    resp = await client.get(
        "/api/documents/count", params={"keyword": "리뷰", "categories": "blog"}
    )
    body = await resp.json()
    assert resp.status == 200
    assert body["counts"] == {"blog": fake_total("리뷰", "blog")}
    assert body["result"]["cached"] == []
    again = await (await client.get("/api/documents/count?keyword=리뷰&categories=blog")).json()
    assert again["result"]["cached"] == ["blog"]
    assert len(fake.calls) == 1


async def test_jobs_list_newest_first_without_results(client):
    ids = [(await post_batch(client, {"keywords": [f"k{i}"]}))[1]["jobId"] for i in range(3)]
    body = await (await client.get("/api/documents/jobs")).json()
    assert [j["id"] for j in body["jobs"]] == ids[::-1]
    assert all("results" not in j for j in body["jobs"])
    limited = await (await client.get("/api/documents/jobs?limit=2")).json()
    assert len(limited["jobs"]) == 2


async def test_priority_queue_order_and_positions(client):
    low = (await post_batch(client, {"keywords": ["a"], "priority": "low"}))[1]["jobId"]
    normal = (await post_batch(client, {"keywords": ["b"]}))[1]["jobId"]
    high = (await post_batch(client, {"keywords": ["c"], "priority": "high"}))[1]["jobId"]
    positions = {}
    for job_id in (low, normal, high):
        job = (await (await client.get(f"/api/documents/status?jobId={job_id}")).json())["job"]
        positions[job_id] = job["queuePosition"]
    assert positions == {high: 1, normal: 2, low: 3}
    assert await client.app[WORKER].run_until_idle() == [high, normal, low]


async def test_cancel_pending_job(client, fake_naver):
    fake, _ = fake_naver
    _, body = await post_batch(client, {"keywords": ["a", "b"]})
    resp = await client.delete(f"/api/documents/jobs/{body['jobId']}")
    assert resp.status == 200
    assert (await resp.json())["job"]["status"] == "cancelled"
    assert await client.app[WORKER].run_until_idle() == []
    assert fake.calls == []


async def test_upstream_error_recorded_per_keyword_job_goes_on(client, fake_naver):
    fake, _ = fake_naver
    fake.add_fault("500", query="고장", api="blog", times=50)
    _, body = await post_batch(
        client, {"keywords": ["정상", "고장"], "categories": ["blog", "news"]}
    )
    await client.app[WORKER].run_until_idle()
    job = (await (await client.get(f"/api/documents/status?jobId={body['jobId']}")).json())["job"]
    assert job["status"] == "completed"
    ok, broken = job["results"]
    assert ok["error"] is None and set(ok["counts"]) == {"blog", "news"}
    # No made-up count for the failed category.
    assert broken["counts"] == {"news": fake_total("고장", "news")}
    assert "blog" in broken["errors"] and broken["error"].startswith("블로그")
    assert len(fake.calls_for("고장", "blog")) == 1 + client.app[WORKER].settings.retry_attempts


async def test_rate_limited_then_succeeds(client, fake_naver):
    fake, _ = fake_naver
    fake.add_fault("429", query="붐빔", times=2)
    _, body = await post_batch(client, {"keywords": ["붐빔"], "categories": ["blog"]})
    await client.app[WORKER].run_until_idle()
    job = (await (await client.get(f"/api/documents/status?jobId={body['jobId']}")).json())["job"]
    assert job["results"][0]["counts"] == {"blog": fake_total("붐빔", "blog")}
    assert len(fake.calls) == 3


async def test_no_usable_key_fails_job_with_clear_message(client, fake_naver):
    fake, _ = fake_naver
    fake.keys.clear()  # every call now answers 401 024
    _, body = await post_batch(client, {"keywords": ["a", "b"], "categories": ["blog"]})
    await client.app[WORKER].run_until_idle()
    job = (await (await client.get(f"/api/documents/status?jobId={body['jobId']}")).json())["job"]
    assert job["status"] == "failed"
    assert "키" in job["error"] and "test-secret" not in job["error"]
    assert job["results"] == []


async def test_cleanup_removes_finished_jobs_after_ttl(tmp_path, fake_naver, make_client):
    from server.appkeys import STORE
    from server.model import now_ms

    client = await make_client(
        replace(base_settings(tmp_path, fake_naver[1]), run_worker=False, job_ttl_s=60)
    )
    _, done = await post_batch(client, {"keywords": ["a"]})
    await client.app[WORKER].run_until_idle()
    _, waiting = await post_batch(client, {"keywords": ["b"]})
    store = client.app[STORE]
    assert await store.cleanup(now_ms()) == 0  # not yet expired
    assert await store.cleanup(now_ms() + 61_000) == 1
    gone = await client.get(f"/api/documents/status?jobId={done['jobId']}")
    assert gone.status == 404
    kept = await client.get(f"/api/documents/status?jobId={waiting['jobId']}")
    assert kept.status == 200  # pending jobs are never cleaned up


# --- bad input: always a 4xx JSON error, never a 500 --------------------------------------

BAD_BATCHES: list[tuple[Any, errors.ErrorKind]] = [
    ([], errors.INVALID_BODY),
    ("keywords", errors.INVALID_BODY),
    ({}, errors.MISSING_KEYWORDS),
    ({"keywords": "맥북"}, errors.INVALID_KEYWORDS),
    ({"keywords": []}, errors.EMPTY_KEYWORDS),
    ({"keywords": ["a", 3]}, errors.INVALID_KEYWORD),
    ({"keywords": ["a", None]}, errors.INVALID_KEYWORD),
    ({"keywords": ["a", "   "]}, errors.EMPTY_KEYWORD),
    ({"keywords": ["가" * 101]}, errors.KEYWORD_TOO_LONG),
    ({"keywords": ["k"] * 1001}, errors.TOO_MANY_KEYWORDS),
    ({"keywords": ["a"], "categories": ["blog", "nope"]}, errors.UNKNOWN_CATEGORY),
    ({"keywords": ["a"], "categories": []}, errors.UNKNOWN_CATEGORY),
    ({"keywords": ["a"], "categories": "blog"}, errors.INVALID_CATEGORIES),
    ({"keywords": ["a"], "categories": ["local"]}, errors.UNKNOWN_CATEGORY),
    ({"keywords": ["a"], "priority": "urgent"}, errors.INVALID_PRIORITY),
    ({"keywords": ["a"], "priority": 1}, errors.INVALID_PRIORITY),
]


@pytest.mark.parametrize(("body", "kind"), BAD_BATCHES)
async def test_bad_batch_bodies(client, body, kind):
    got_status, got = await post_batch(client, body)
    assert (got_status, got["code"], got["success"]) == (kind.status, kind.code, False)
    assert isinstance(got["error"], str) and got["error"]


async def test_error_messages_are_the_catalogues(client):
    """The figures a message carries are filled into the catalogue's words, not rephrased."""
    _, got = await post_batch(client, {"keywords": ["a", "  "]})
    assert got["error"] == errors.EMPTY_KEYWORD.text(pos=2) == "2번째 키워드가 비어 있습니다"
    _, got = await post_batch(client, {"keywords": ["k"] * 1001})
    assert got["error"] == errors.TOO_MANY_KEYWORDS.text(limit=1000, given=1001)
    assert got["error"] == "키워드는 한 번에 최대 1,000개까지 가능합니다 (입력: 1,001개)"
    _, got = await post_batch(client, {"keywords": ["a"], "priority": 1})
    assert got["error"] == errors.INVALID_PRIORITY.text()


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"{not json", "invalid_json"), (b"", "invalid_json"), (b"\xff\xfe", "invalid_json")],
)
async def test_body_not_json(client, raw, code):
    resp = await client.post(
        "/api/documents/batch", data=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["code"] == code


async def test_keyword_exactly_at_limits_is_accepted(client):
    status, _ = await post_batch(client, {"keywords": ["가" * 100] + ["k"] * 999})
    assert status == 200


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 400, "missing_job_id"),
        ("?jobId=", 400, "missing_job_id"),
        ("?jobId=../../etc/passwd", 400, "invalid_job_id"),
        ("?jobId=batch_1_x", 400, "invalid_job_id"),
        ("?jobId=batch_1696387200000_AAAAAAAAAAAAAAAAAAAAAA", 404, "job_not_found"),
    ],
)
async def test_bad_job_ids(client, query, status, code):
    resp = await client.get("/api/documents/status" + query)
    assert resp.status == status
    assert (await resp.json())["code"] == code


async def test_cancel_unknown_and_malformed(client):
    resp = await client.delete("/api/documents/jobs/batch_1696387200000_AAAAAAAAAAAAAAAAAAAAAA")
    assert (resp.status, (await resp.json())["code"]) == (404, "job_not_found")
    resp = await client.delete("/api/documents/jobs/nope")
    assert (resp.status, (await resp.json())["code"]) == (400, "invalid_job_id")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "missing_keyword"),
        ("?keyword=", "empty_keyword"),
        ("?keyword=a&categories=x", "unknown_category"),
    ],
)
async def test_bad_count_queries(client, query, code):
    resp = await client.get("/api/documents/count" + query)
    assert resp.status == 400
    assert (await resp.json())["code"] == code


@pytest.mark.parametrize("limit", ["0", "201", "x"])
async def test_bad_jobs_limit(client, limit):
    resp = await client.get(f"/api/documents/jobs?limit={limit}")
    assert (resp.status, (await resp.json())["code"]) == (400, "invalid_limit")


async def test_unknown_route_and_method_are_json(client):
    resp = await client.get("/api/nope")
    assert (resp.status, (await resp.json())["code"]) == (404, "not_found")
    resp = await client.put("/api/documents/batch")
    assert (resp.status, (await resp.json())["code"]) == (405, "method_not_allowed")


async def test_config_announces_provider(client):
    body = await (await client.get("/api/config")).json()
    assert body["provider"] == "naver"
    assert body["defaultCategories"] == ["blog", "cafe", "news", "web"]
    assert {"name": "cafe", "label": "카페"} in body["categories"]
    assert [c["name"] for c in body["categories"]] == list(CATEGORIES)
    # The dashboard listens for exactly these (no copy of the list in its JavaScript).
    assert body["eventTypes"] == ["snapshot", "status", "progress", "result", "job", "jobs"]
    assert body["eventTypes"] == list(EVENT_TYPES)
    assert body["maxKeywords"] == 1000


async def test_jobs_have_names(client: Any) -> None:
    many = [f"캠핑 의자 {i}" for i in range(30)]
    named = await client.post(
        "/api/documents/batch", json={"keywords": ["a", "b"], "name": "  봄  캠핑 "}
    )
    unnamed = await client.post("/api/documents/batch", json={"keywords": many})
    single = await client.post("/api/documents/batch", json={"keywords": ["맥북"]})
    ids = [(await r.json())["jobId"] for r in (named, unnamed, single)]
    names = []
    for job_id in ids:
        job = (await (await client.get(f"/api/documents/status?jobId={job_id}")).json())["job"]
        names.append(job["name"])
    assert names == ["봄 캠핑", "캠핑 의자 0 외 29개", "맥북"]
    listed = (await (await client.get("/api/documents/jobs")).json())["jobs"]
    assert [j["name"] for j in listed] == names[::-1]
    bad = await client.post("/api/documents/batch", json={"keywords": ["a"], "name": 5})
    assert bad.status == 400 and (await bad.json())["code"] == "invalid_name"
    long = await client.post("/api/documents/batch", json={"keywords": ["a"], "name": "x" * 101})
    assert long.status == 400 and (await long.json())["code"] == "name_too_long"
