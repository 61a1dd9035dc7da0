"""The running worker: fairness between jobs, cancel mid-job, the event log it writes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from server.appkeys import STORE, WORKER
from server.codec import loads
from tests.support.common import base_settings, wait_until


async def get_job(client: Any, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get(f"/api/documents/status?jobId={job_id}")).json()
    return body["job"]  # type: ignore[no-any-return]


async def submit(client: Any, body: dict[str, Any]) -> str:
    resp = await client.post("/api/documents/batch", json=body)
    assert resp.status == 200
    return (await resp.json())["jobId"]  # type: ignore[no-any-return]


async def test_small_job_is_not_stuck_behind_big_one(tmp_path, fake_naver, make_client):
    # 200 calls/s: the big job alone needs 5 s; the small one must not wait for it.
    client = await make_client(replace(base_settings(tmp_path, fake_naver[1]), rate_per_s=200))
    big = await submit(
        client, {"keywords": [f"big{i}" for i in range(1000)], "categories": ["blog"]}
    )
    await wait_until(lambda: _current(client, big, at_least=20))
    small = await submit(
        client, {"keywords": [f"small{i}" for i in range(10)], "categories": ["blog"]}
    )
    await wait_until(lambda: _status(client, small, "completed"), timeout_s=5)
    big_job = await get_job(client, big)
    assert big_job["status"] == "processing"
    # Shared fairly: the small job finished while the big one had done well under half.
    assert big_job["progress"]["current"] < 500
    await client.delete(f"/api/documents/jobs/{big}")
    await wait_until(lambda: _status(client, big, "cancelled"))


async def _current(client: Any, job_id: str, at_least: int) -> bool:
    return (await get_job(client, job_id))["progress"]["current"] >= at_least


async def _status(client: Any, job_id: str, status: str) -> bool:
    return (await get_job(client, job_id))["status"] == status


async def test_cancel_mid_job_keeps_what_was_counted(tmp_path, fake_naver, make_client):
    fake, base = fake_naver
    settings = replace(base_settings(tmp_path, base), rate_per_s=100, keyword_concurrency=2)
    client = await make_client(settings)
    job_id = await submit(
        client, {"keywords": [f"k{i}" for i in range(200)], "categories": ["blog"]}
    )
    await wait_until(lambda: _current(client, job_id, at_least=5))
    resp = await client.delete(f"/api/documents/jobs/{job_id}")
    assert resp.status == 200
    await wait_until(lambda: _status(client, job_id, "cancelled"))
    job = await get_job(client, job_id)
    done = job["progress"]["current"]
    assert 5 <= done < 200
    assert [r["index"] for r in job["results"]] == list(range(done))
    assert job["completedAt"] is not None
    # Stopped after the calls in flight: at most the look-ahead window beyond what was kept.
    calls_at_cancel = len(fake.calls)
    assert calls_at_cancel <= done + settings.keyword_concurrency
    # Cancelling a finished job changes nothing.
    again = await (await client.delete(f"/api/documents/jobs/{job_id}")).json()
    assert again["job"]["status"] == "cancelled"


async def test_event_log_of_a_job(tmp_path, fake_naver, make_client):
    settings = replace(base_settings(tmp_path, fake_naver[1]), progress_interval_s=0.0)
    client = await make_client(settings)
    job_id = await submit(client, {"keywords": ["a", "b", "c"], "categories": ["blog"]})
    await wait_until(lambda: _status(client, job_id, "completed"))
    page = await client.app[STORE].read_events(job_id, None)
    events = [loads(e.json) for e in page.events]
    assert [e["id"] for e in events] == [str(i) for i in range(1, len(events) + 1)]
    assert all(e["jobId"] == job_id for e in events)
    types = [e["type"] for e in events]
    # progress ticks (interval 0) after each result but the last
    assert types == [
        "status", "status",
        "result", "progress", "result", "progress", "result",
        "status",
    ]  # fmt: skip
    assert [e["status"] for e in events if e["type"] == "status"] == [
        "pending",
        "processing",
        "completed",
    ]
    assert [e["progress"]["current"] for e in events if e["type"] == "result"] == [1, 2, 3]
    assert [e["result"]["keyword"] for e in events if e["type"] == "result"] == ["a", "b", "c"]
    tick = next(e for e in events if e["type"] == "progress")
    assert tick["progress"] == {"current": 1, "total": 3}
    assert tick["ratePerSec"] > 0 and tick["etaMs"] >= 0
    job = await get_job(client, job_id)
    assert job["lastEventId"] == events[-1]["id"]
    # Resuming after any id gives exactly the rest.
    for cut in range(len(events)):
        rest = await client.app[STORE].read_events(job_id, events[cut]["id"])
        assert [e.id for e in rest.events] == [e["id"] for e in events[cut + 1 :]]


async def test_jobs_feed_records_status_changes(tmp_path, fake_naver, make_client):
    from server.model import JOBS_FEED

    client = await make_client(base_settings(tmp_path, fake_naver[1]))
    job_id = await submit(client, {"keywords": ["a"], "categories": ["blog"]})
    await wait_until(lambda: _status(client, job_id, "completed"))
    page = await client.app[STORE].read_events(JOBS_FEED, None)
    feed = [loads(e.json) for e in page.events]
    assert [(e["type"], e["job"]["id"], e["job"]["status"]) for e in feed] == [
        ("job", job_id, "pending"),
        ("job", job_id, "processing"),
        ("job", job_id, "completed"),
    ]


async def test_config_error_fails_fast(tmp_path, fake_naver, make_client):
    fake, base = fake_naver
    fake.add_fault("404", times=100)
    client = await make_client(base_settings(tmp_path, base))
    job_id = await submit(
        client, {"keywords": [f"k{i}" for i in range(50)], "categories": ["blog"]}
    )
    await wait_until(lambda: _status(client, job_id, "failed"))
    job = await get_job(client, job_id)
    assert job["error"]
    assert len(fake.calls) <= client.app[STORE].settings.keyword_concurrency


async def test_results_commit_in_order_when_a_later_keyword_finishes_first(
    tmp_path, fake_naver, make_client, store_url
):
    fake, base = fake_naver
    # The first keyword's call stalls once (cut by the 0.5 s timeout, then retried): the
    # three after it are answered long before it is.
    fake.add_fault("timeout", query="첫째")
    client = await make_client(
        replace(
            base_settings(tmp_path, base),
            store_url=store_url,
            run_worker=False,
            keyword_concurrency=4,
            request_timeout_s=0.5,
        )
    )
    keywords = ["첫째", "둘째", "셋째", "넷째"]
    job_id = await submit(client, {"keywords": keywords, "categories": ["blog"]})
    await client.app[WORKER].run_until_idle()
    answered = [c.query for c in fake.calls]
    assert answered[-1] == "첫째" and sorted(answered[:-1]) == sorted(keywords)
    last_answer = {q: max(c.t_s for c in fake.calls_for(q)) for q in keywords}
    assert max(last_answer[q] for q in keywords[1:]) < last_answer["첫째"]
    # Yet the log (what every stream replays) and the stored results are in input order.
    events = (await client.app[STORE].read_events(job_id, None)).events
    results = [loads(e.json)["result"] for e in events if e.type == "result"]
    assert [(r["index"], r["keyword"]) for r in results] == list(enumerate(keywords))
    job = await get_job(client, job_id)
    assert [r["keyword"] for r in job["results"]] == keywords
