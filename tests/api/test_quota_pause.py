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

from server.aio import cancel_and_wait
from server.appkeys import HTTP, STORE
from server.codec import loads
from server.kst import DAY_MS, next_kst_midnight_ms
from server.model import now_ms
from server.store.base import Store
from server.work.counting import KeywordCounter
from server.work.providers.naver import NaverProvider
from server.work.worker import Worker
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver
from tests.support.streams import status_of


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
