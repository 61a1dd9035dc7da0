"""A real server process killed with SIGKILL mid-job resumes on restart, counting nothing twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.common import wait_until
from tests.support.fakeupstream import FakeNaver, fake_total
from tests.support.procs import Proc, Procs


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def job_of(http: aiohttp.ClientSession, server: Proc, job_id: str) -> dict[str, Any]:
    async with http.get(f"{server.url}/api/documents/status", params={"jobId": job_id}) as resp:
        return (await resp.json())["job"]  # type: ignore[no-any-return]


async def serve(procs: Procs, name: str, db: Path) -> Proc:
    """A whole service (web and worker) on the SQLite file, counting against the fake."""
    return await procs.listening(
        name,
        *(
            "-m",
            "server",
            "serve",
            "--no-key-check",
            "--store",
            f"sqlite:///{db}",
            "--port",
            "{port}",
        ),
        *("--rate", "60"),
        # The recount bound below counts calls whose cache write was still on its way at the
        # kill; an fsync per commit (the default FULL) widens that window on a loaded disk.
        *("--sqlite-synchronous", "normal"),
        ready_path="/api/config",
    )


async def test_sigkill_mid_job_resumes_without_recount(tmp_path, fake_naver, http):
    fake: FakeNaver
    fake, base = fake_naver
    fake.latency_s = 0.01
    db = tmp_path / "jobs.db"
    keywords = [f"키워드{i}" for i in range(60)]
    categories = ["blog", "news"]
    procs = Procs(tmp_path)
    procs.env["NAVER_API_BASE"] = base
    try:
        first = await serve(procs, "first", db)
        async with http.post(
            f"{first.url}/api/documents/batch",
            json={"keywords": keywords, "categories": categories},
        ) as resp:
            job_id = (await resp.json())["jobId"]

        async def some_done() -> bool:
            return (await job_of(http, first, job_id))["progress"]["current"] >= 15

        await wait_until(some_done, timeout_s=20)
        first.kill()  # SIGKILL: no shutdown code runs
        done_at_kill = len({(c.query, c.api) for c in fake.calls})

        second = await serve(procs, "second", db)

        async def completed() -> bool:
            return (await job_of(http, second, job_id))["status"] == "completed"

        await wait_until(completed, timeout_s=30)
        job = await job_of(http, second, job_id)
    finally:
        procs.stop_all()

    assert done_at_kill < len(keywords) * len(categories)  # really killed mid-job
    assert [r["index"] for r in job["results"]] == list(range(len(keywords)))
    assert [r["keyword"] for r in job["results"]] == keywords
    for r in job["results"]:
        assert r["counts"] == {
            "blog": fake_total(r["keyword"], "blog"),
            "news": fake_total(r["keyword"], "news"),
        }
    # Each (keyword, category) went upstream once, give or take the calls in flight at the kill.
    per_pair = Counter((c.query, c.api) for c in fake.calls)
    assert set(per_pair) == {(k, a) for k in keywords for a in ("blog", "news")}
    recounted = sum(n - 1 for n in per_pair.values())
    assert recounted <= 2
