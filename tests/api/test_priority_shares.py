"""Issue 11.5: priority matters once jobs run side by side. A high job submitted while a big
normal job runs gets two thirds of the upstream rate (weights 4 : 2), so its calls are not
queued behind the normal job's; on both engines (the claim carries the job's priority)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver

RATE_PER_S = 20.0  # one call every 50 ms: the upstream sees calls in the order they were let go


async def test_a_high_job_takes_its_weighted_share_from_a_running_normal_job(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    fake, base = fake_naver
    settings = replace(
        base_settings(tmp_path, base),
        store_url=store_url,
        rate_per_s=RATE_PER_S,
        keyword_concurrency=16,  # first come, first served would put 16 calls ahead of it
    )
    client = await make_client(settings)
    big = [f"normal-{i}" for i in range(200)]
    resp = await client.post("/api/documents/batch", json={"keywords": big, "categories": ["blog"]})
    big_id = (await resp.json())["jobId"]
    await wait_until(lambda: len(fake.calls) >= 5, timeout_s=10.0)

    mark = len(fake.calls)
    resp = await client.post(
        "/api/documents/batch",
        json={"keywords": ["high-1", "high-2"], "categories": ["blog"], "priority": "high"},
    )
    high_id = (await resp.json())["jobId"]

    async def high_done() -> bool:
        job = (await (await client.get(f"/api/documents/status?jobId={high_id}")).json())["job"]
        return bool(job["status"] == "completed")

    await wait_until(high_done, timeout_s=10.0)
    await client.delete(f"/api/documents/jobs/{big_id}")

    queries = [c.query for c in fake.calls]
    # Its two keywords are looked up side by side: either may go first.
    first, last = sorted(i for i, q in enumerate(queries) if q.startswith("high-"))
    # Its weight gives it 2 of every 3 turns: one normal call between its two.
    assert last - first == 2
    assert queries[first + 1].startswith("normal-")
    # Before its first call, only what was already let go (one turn per key) and what ran
    # while the worker claimed it; first come, first served made 16 calls first.
    assert first - mark <= 3
