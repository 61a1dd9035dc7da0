"""Issue 14: a job that runs out of quota (every key spent: Naver 010) is not failed. It stays
``processing`` with ``"waiting": "quota"`` until midnight KST, says so in the status JSON, the
jobs list and an event, resumes by itself, and can be cancelled while it waits; on both stores.

The worker and the provider run on a fake clock set one minute before a midnight KST, and the
worker's sleep is held until the test lets it go: the midnight passes without real waiting. That
midnight is today's (already past on the real clock), so the key's retirement, which the store
times on the real clock, has run out by the time the job resumes, as it would at the reset.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server import model
from server.aio import cancel_and_wait
from server.appkeys import HTTP, STORE
from server.codec import loads
from server.kst import DAY_MS, format_kst, next_kst_midnight_ms
from server.model import now_ms
from server.settings import NaverKey
from server.store.base import Store
from server.work.counting import KeywordCounter
from server.work.providers.naver import NaverProvider
from server.work.worker import Worker
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver


class FakeClock:
    """Epoch ms that move only when the worker sleeps, and only once the test lets it."""

    def __init__(self, at_ms: int) -> None:
        self.at_ms = at_ms
        self.asleep = asyncio.Event()
        self.wake = asyncio.Event()
        self.slept_s: list[float] = []

    def now(self) -> int:
        return self.at_ms

    async def sleep(self, seconds: float) -> None:
        self.slept_s.append(seconds)
        self.asleep.set()
        await self.wake.wait()
        self.at_ms += round(seconds * 1000)


async def status_of(client: Any, job_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/documents/status?jobId={job_id}")
    job: dict[str, Any] = (await resp.json())["job"]
    return job


async def wait_quota_said(client: Any, job_id: str) -> None:
    """The fake clock's sleep starts before the worker's heartbeat lands: the status JSON says
    "quota" once that beat is in the store."""

    async def said() -> bool:
        return bool((await status_of(client, job_id)).get("waiting") == "quota")

    await wait_until(said, timeout_s=10.0)


async def progress_ticks(store: Store, job_id: str) -> list[dict[str, Any]]:
    page = await store.read_events(job_id, None)
    return [loads(e.json) for e in page.events if e.type == "progress"]


async def start(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> tuple[Any, FakeClock, asyncio.Task[None], str, int]:
    fake, base = fake_naver
    settings = replace(base_settings(tmp_path, base), store_url=store_url, run_worker=False)
    client = await make_client(settings)
    store = client.app[STORE]
    midnight_ms = next_kst_midnight_ms(now_ms() - DAY_MS)  # today's 00:00 KST
    clock = FakeClock(midnight_ms - 60_000)
    provider = NaverProvider(
        settings,
        client.app[HTTP],
        store.limiter(settings.rate_per_s),
        store.key_registry(),
        clock_ms=clock.now,
    )
    worker = Worker(
        store, KeywordCounter(store, provider), settings, clock_ms=clock.now, sleep=clock.sleep
    )
    fake.add_fault("quota", query="나")  # the only key's daily quota runs out at the 2nd keyword
    resp = await client.post(
        "/api/documents/batch", json={"keywords": ["가", "나", "다"], "categories": ["blog"]}
    )
    job_id = (await resp.json())["jobId"]
    runner = asyncio.create_task(worker.run(poll_s=0.05))
    await asyncio.wait_for(clock.asleep.wait(), timeout=10.0)
    return client, clock, runner, job_id, midnight_ms


async def stop(runner: asyncio.Task[None]) -> None:
    # Not cancel + gather: on Python 3.11 redis-py may swallow one cancel (server/aio.py).
    await cancel_and_wait([runner])


async def test_a_job_out_of_quota_waits_for_midnight_kst_and_resumes(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    client, clock, runner, job_id, midnight_ms = await start(
        tmp_path, fake_naver, make_client, store_url
    )
    store = client.app[STORE]
    try:
        await wait_quota_said(client, job_id)
        job = await status_of(client, job_id)
        assert (job["status"], job["waiting"], job["resumesAtMs"]) == (
            "processing",
            "quota",
            midnight_ms,
        )
        assert job["error"] is None and job["progress"]["current"] == 1
        listed = (await (await client.get("/api/documents/jobs")).json())["jobs"]
        assert [(j["waiting"], j["resumesAtMs"]) for j in listed] == [("quota", midnight_ms)]
        ticks = await progress_ticks(store, job_id)
        assert {"waiting": "quota", "resumesAtMs": midnight_ms}.items() <= ticks[-1].items()
        assert clock.slept_s == [60.0]  # one step to the fake midnight, nothing real

        clock.wake.set()  # midnight KST: the quota resets

        async def completed() -> bool:
            return bool((await status_of(client, job_id))["status"] == "completed")

        await wait_until(completed, timeout_s=10.0)
    finally:
        await stop(runner)
    job = await status_of(client, job_id)
    assert "waiting" not in job and "resumesAtMs" not in job
    assert [(r["keyword"], r["error"]) for r in job["results"]] == [
        ("가", None),
        ("나", None),
        ("다", None),
    ]
    assert job["results"][1]["counts"]["blog"] > 0
    fake = fake_naver[0]
    assert len(fake.calls_for("나")) == 2  # the 010, then the count after the reset
    assert len(fake.calls_for("가")) == 1  # nothing counted twice
    assert any(t.get("waiting", "") is None for t in await progress_ticks(store, job_id))


async def test_a_job_waiting_for_the_quota_can_be_cancelled(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    client, _clock, runner, job_id, _ = await start(tmp_path, fake_naver, make_client, store_url)
    try:
        resp = await client.delete(f"/api/documents/jobs/{job_id}")
        assert resp.status == 200

        async def cancelled() -> bool:
            return bool((await status_of(client, job_id))["status"] == "cancelled")

        await wait_until(cancelled, timeout_s=10.0)
    finally:
        await stop(runner)
    job = await status_of(client, job_id)
    assert [r["keyword"] for r in job["results"]] == ["가"]
    assert "waiting" not in job


async def test_a_job_submitted_with_every_key_spent_is_taken_and_waits_for_midnight(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    make_client: Any,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 14: every key spent for today is not "no usable key": the submit is taken, its
    plan and message say when it can run, it waits ``processing`` with ``"waiting": "quota"``
    from the first keyword (no call spent), and counts once the quota resets; /readyz stays
    ready. A key rejected for good beside it is still a 503 (test_key_health covers one alone).

    The key registries read ``server.model.now_ms``: here the fake clock, one minute before the
    next real midnight KST (the one the submit's plan, on the real clock, names)."""
    fake, base = fake_naver
    settings = replace(base_settings(tmp_path, base), store_url=store_url, run_worker=False)
    client = await make_client(settings)
    store = client.app[STORE]
    midnight_ms = next_kst_midnight_ms(now_ms())
    clock = FakeClock(midnight_ms - 60_000)
    monkeypatch.setattr(model, "now_ms", clock.now)
    registry = store.key_registry()
    await registry.retire("test-id", midnight_ms, "daily quota exceeded (HTTP 429 010)")

    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"]["keys"] == "quota_spent"
    resp = await client.post(
        "/api/documents/batch", json={"keywords": ["가", "나"], "categories": ["blog", "news"]}
    )
    body = await resp.json()
    assert resp.status == 200, body
    at = format_kst(midnight_ms)
    assert body["message"] == (
        f"배치 작업이 접수되었습니다: 모든 API 키의 오늘 호출 한도가 소진되어 {at}에 "
        "한도가 초기화되면 조회합니다"
    )
    assert body["quota"] == {
        "callsNeeded": 4,
        "callsLeftToday": 0,
        "fits": False,
        "finishesNotBefore": midnight_ms,
    }
    job_id = body["jobId"]

    provider = NaverProvider(
        settings,
        client.app[HTTP],
        store.limiter(settings.rate_per_s),
        store.key_registry(),
        clock_ms=clock.now,
    )
    worker = Worker(
        store, KeywordCounter(store, provider), settings, clock_ms=clock.now, sleep=clock.sleep
    )
    runner = asyncio.create_task(worker.run(poll_s=0.05))
    try:
        await asyncio.wait_for(clock.asleep.wait(), timeout=10.0)
        await wait_quota_said(client, job_id)
        job = await status_of(client, job_id)
        assert (job["status"], job["waiting"], job["resumesAtMs"]) == (
            "processing",
            "quota",
            midnight_ms,
        )
        assert job["progress"]["current"] == 0 and job["results"] == []
        assert fake.calls == []  # nothing asked of a spent key

        clock.wake.set()  # midnight KST: the quota resets

        async def completed() -> bool:
            return bool((await status_of(client, job_id))["status"] == "completed")

        await wait_until(completed, timeout_s=10.0)
    finally:
        await stop(runner)
    job = await status_of(client, job_id)
    assert [(r["keyword"], r["error"]) for r in job["results"]] == [("가", None), ("나", None)]
    assert sorted((c.query, c.api) for c in fake.calls) == [
        ("가", "blog"),
        ("가", "news"),
        ("나", "blog"),
        ("나", "news"),
    ]


async def test_a_spent_key_beside_a_rejected_one_is_still_no_usable_key(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    make_client: Any,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, base = fake_naver
    keys = (NaverKey("test-id", "test-secret"), NaverKey("bad-key", "wrong-secret"))
    settings = replace(
        base_settings(tmp_path, base), store_url=store_url, run_worker=False, naver_keys=keys
    )
    client = await make_client(settings)
    midnight_ms = next_kst_midnight_ms(now_ms())
    monkeypatch.setattr(model, "now_ms", lambda: midnight_ms - 60_000)
    registry = client.app[STORE].key_registry()
    await registry.retire("test-id", midnight_ms, "daily quota exceeded (HTTP 429 010)")
    await registry.retire("bad-key", None, "auth failed (HTTP 401 024)")

    resp = await client.post("/api/documents/batch", json={"keywords": ["가"]})
    body = await resp.json()
    assert resp.status == 503
    at = format_kst(midnight_ms)
    assert body == {
        "success": False,
        "error": "사용 가능한 네이버 API 키가 없습니다: "
        f"test… {at}까지 사용 중지됨(일일 한도 또는 인증 실패); "
        "bad-… 사용 중지됨(인증 실패 또는 권한 없음)",
        "code": "no_usable_key",
    }
    assert (await client.get("/readyz")).status == 503
    assert (await (await client.get("/api/documents/jobs")).json())["jobs"] == []
    assert fake.calls == []
