"""A real server process killed with SIGKILL mid-job resumes on restart, counting nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.fakeupstream import FakeNaver, fake_total

from .conftest import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, db: Path, naver_base: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            sys.executable, "-m", "server", "serve",
            "--port", str(self.port), "--store", f"sqlite:///{db}", *extra,
        ]  # fmt: skip
        self.env = {
            **os.environ,
            "NAVER_CLIENT_ID": "test-id",
            "NAVER_CLIENT_SECRET": "test-secret",
            "NAVER_API_BASE": naver_base,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

        async def up() -> bool:
            try:
                async with http.get(self.url + "/api/config") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await wait_until(up, timeout_s=20, step_s=0.05)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def job_of(http: aiohttp.ClientSession, server: ServerProcess, job_id: str) -> dict[str, Any]:
    async with http.get(f"{server.url}/api/documents/status", params={"jobId": job_id}) as resp:
        return (await resp.json())["job"]  # type: ignore[no-any-return]


async def test_sigkill_mid_job_resumes_without_recount(tmp_path, fake_naver, http):
    fake: FakeNaver
    fake, base = fake_naver
    fake.latency_s = 0.01
    db = tmp_path / "jobs.db"
    keywords = [f"키워드{i}" for i in range(60)]
    categories = ["blog", "news"]
    first = ServerProcess(db, base, "--rate", "60")
    await first.start(http)
    try:
        async with http.post(
            f"{first.url}/api/documents/batch",
            json={"keywords": keywords, "categories": categories},
        ) as resp:
            job_id = (await resp.json())["jobId"]

        async def some_done() -> bool:
            return (await job_of(http, first, job_id))["progress"]["current"] >= 15

        await wait_until(some_done, timeout_s=20)
        await first.kill()
    finally:
        await first.stop()
    done_at_kill = len({(c.query, c.api) for c in fake.calls})

    second = ServerProcess(db, base, "--rate", "60")
    await second.start(http)
    try:

        async def completed() -> bool:
            return (await job_of(http, second, job_id))["status"] == "completed"

        await wait_until(completed, timeout_s=30)
        job = await job_of(http, second, job_id)
    finally:
        await second.stop()

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
