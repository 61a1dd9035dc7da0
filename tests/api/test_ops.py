"""Health, readiness, Prometheus metrics and /api/stats, with exact figures after real jobs."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from server.appkeys import METRICS, WORKER, WORKER_TASK
from server.settings import NaverKey
from tests.support.common import base_settings, wait_until
from tests.support.redis_server import require_redis, start_on_a_free_port


async def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def run_job(client: Any, keywords: list[str]) -> str:
    resp = await client.post("/api/documents/batch", json={"keywords": keywords})
    job_id: str = (await resp.json())["jobId"]
    assert await client.app[WORKER].run_until_idle() == [job_id]
    return job_id


async def test_healthz_and_readyz(tmp_path, fake_naver, make_client):
    client = await make_client(base_settings(tmp_path, fake_naver[1]))
    resp = await client.get("/healthz")
    assert (resp.status, await resp.json()) == (200, {"success": True, "status": "ok"})
    await wait_until(lambda: not client.app[WORKER_TASK].done())
    worker_id = client.app[WORKER].worker_id

    async def beating() -> bool:
        body = await (await client.get("/readyz")).json()
        return bool(body["workers"])

    await wait_until(beating)
    body = await (await client.get("/readyz")).json()
    (worker,) = body.pop("workers")  # the in-app worker, alive, holding nothing
    assert (worker["id"], worker["jobs"], type(worker["seenMs"])) == (worker_id, 0, int)
    assert body == {
        "success": True,
        "status": "ready",
        "checks": {"store": "ok", "worker": "ok", "keys": "ok"},
    }


async def test_readyz_says_worker_off_on_a_web_only_node(tmp_path, fake_naver, make_client):
    client = await make_client(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))
    body = await (await client.get("/readyz")).json()
    assert body["checks"] == {"store": "ok", "worker": "off", "keys": "ok"}


async def test_readyz_503_when_store_gone_or_worker_dead(tmp_path, fake_naver, make_client):
    require_redis()
    redis = start_on_a_free_port(tmp_path / "redis")  # its own: this test stops it
    try:
        await readyz_503_when_store_gone_or_worker_dead(tmp_path, fake_naver, make_client, redis)
    finally:
        redis.kill()


async def readyz_503_when_store_gone_or_worker_dead(tmp_path, fake_naver, make_client, redis):
    client = await make_client(base_settings(tmp_path, fake_naver[1], store_url=redis.url))
    await wait_until(lambda: not client.app[WORKER_TASK].done())
    assert (await client.get("/readyz")).status == 200
    task = client.app[WORKER_TASK]
    task.cancel()
    await wait_until(task.done)
    resp = await client.get("/readyz")
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    assert await resp.json() == {
        "success": False,
        "error": "준비되지 않았습니다: worker",
        "code": "not_ready",
        "checks": {"store": "ok", "worker": "stopped", "keys": "ok"},
        "workers": [],  # it stopped cleanly: its heartbeat went with it
    }
    redis.kill()  # the real store goes away
    resp = await client.get("/readyz")
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    body = await resp.json()
    assert body["checks"] == {"store": "unavailable", "worker": "stopped", "keys": "unknown"}
    assert body["error"] == "준비되지 않았습니다: store, worker"


async def test_metrics_after_jobs_with_a_retry_and_cache_hits(tmp_path, fake_naver, make_client):
    fake, base = fake_naver
    client = await make_client(replace(base_settings(tmp_path, base), run_worker=False))
    fake.add_fault("500", query="맥북", api="blog")
    await run_job(client, ["맥북", "리뷰"])
    await run_job(client, ["맥북", "리뷰"])  # every count now comes from the cache
    m = await scrape(client)
    assert m[("doccount_jobs", (("status", "completed"),))] == 2
    assert m[("doccount_jobs", (("status", "pending"),))] == 0
    assert m[("doccount_queue_depth", ())] == 0
    assert m[("doccount_upstream_calls_total", (("category", "blog"), ("outcome", "5xx")))] == 1
    for cat in ("blog", "cafe", "news", "web"):
        assert m[("doccount_upstream_calls_total", (("category", cat), ("outcome", "ok")))] == 2
        assert m[("doccount_cache_hits_total", (("category", cat),))] == 2
    assert m[("doccount_upstream_retries_total", ())] == 1
    assert m[("doccount_keyword_seconds_count", ())] == 4
    assert m[("doccount_ratelimit_wait_seconds_count", ())] == 9  # 8 calls + 1 retry
    for transport in ("sse", "ws"):
        assert m[("doccount_subscribers", (("transport", transport),))] == 0


async def test_each_app_has_its_own_registry(tmp_path, fake_naver, make_client):
    a = await make_client(replace(base_settings(tmp_path / "a", fake_naver[1]), run_worker=False))
    b = await make_client(replace(base_settings(tmp_path / "b", fake_naver[1]), run_worker=False))
    await run_job(a, ["하나"])
    assert (await scrape(a))[("doccount_keyword_seconds_count", ())] == 1
    assert (await scrape(b))[("doccount_keyword_seconds_count", ())] == 0
    assert a.app[METRICS].registry is not b.app[METRICS].registry


# The hub's counters by transport (delivered, cut, subscribers) are scraped from /metrics after
# real deliveries and real slow-consumer cuts in tests/live/test_live_load.py.


async def test_stats_counts_jobs_and_calls_per_key_label(tmp_path, fake_naver, make_client):
    fake, base = fake_naver
    keys = (NaverKey("test-id", "test-secret"), NaverKey("other-app", "wrong-secret"))
    client = await make_client(
        replace(base_settings(tmp_path, base), run_worker=False, naver_keys=keys)
    )
    # Round robin: the second key is tried, fails auth twice (retired until a re-check in
    # 10 minutes), the first takes over.
    started_ms = int(time.time() * 1000)
    await run_job(client, ["맥북"])
    body = await (await client.get("/api/stats")).json()
    jobs = body["jobs"]
    assert (jobs["succeeded"], jobs["failed"], jobs["cancelled"], jobs["queueDepth"]) == (
        1,
        0,
        0,
        0,
    )
    assert isinstance(jobs["avgJobMs"], int) and jobs["avgJobMs"] >= 0
    upstream = body["upstream"]
    assert upstream["provider"] == "naver" and upstream["dailyQuota"] == 25_000
    calls = {c.client_id: 0 for c in keys}
    for call in fake.calls:
        calls[call.client_id] += 1
    retired_until = upstream["keys"][1].pop("retiredUntil")
    assert started_ms + 600_000 <= retired_until <= int(time.time() * 1000) + 600_000
    assert upstream["keys"] == [
        {
            "label": "test…",
            "callsToday": calls["test-id"],
            "dailyQuota": 25_000,
            "remaining": 25_000 - calls["test-id"],
            "retired": False,
            "retiredUntil": None,
            "retiredReason": None,
        },
        {
            "label": "othe…",
            "callsToday": calls["other-app"],
            "dailyQuota": 25_000,
            "remaining": 25_000 - calls["other-app"],
            "retired": True,
            "retiredReason": "auth failed (HTTP 401 024)",
        },
    ]
    # Categories run concurrently: how many reached the bad key before it was retired varies.
    assert calls["test-id"] == 4 and calls["other-app"] >= 2
    assert upstream["callsByOutcome"] == {"ok": 4, "auth": calls["other-app"]}


async def test_stats_with_the_demo_provider_has_no_keys(tmp_path, fake_naver, make_client):
    client = await make_client(
        replace(base_settings(tmp_path, fake_naver[1]), provider="demo", run_worker=False)
    )
    await run_job(client, ["맥북"])
    body = await (await client.get("/api/stats")).json()
    assert body["jobs"]["succeeded"] == 1
    assert body["upstream"]["provider"] == "demo"
    assert body["upstream"]["keys"] == [] and body["upstream"]["callsByOutcome"] == {}
