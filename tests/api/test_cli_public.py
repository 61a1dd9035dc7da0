"""The ``doccount`` client as a user runs it (``python -m server ...`` in its own process):
formula-looking keywords are defused in its CSV, and a job that ends cancelled or failed
makes it exit with status 1."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from server.api.app import create_app
from server.settings import Settings
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver, fake_total

CATS = ["blog", "cafe", "news", "web"]
API = {"blog": "blog", "cafe": "cafearticle", "news": "news", "web": "webkr"}


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    servers: list[TestServer] = []

    async def _serve(settings: Settings) -> str:
        server = TestServer(create_app(settings), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield _serve
    for server in servers:
        await server.close()


async def start_cli(*args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCCOUNT_", "NAVER_"))}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def test_csv_from_the_cli_defuses_formula_cells(tmp_path, fake_naver, serve) -> None:
    url = await serve(base_settings(tmp_path, fake_naver[1]))
    keywords = ["=1+1", "+SUM(1)", "-2도", "@A1", "맥북 =1"]
    proc = await start_cli("submit", "-", "--follow", "--server", url)
    out, err = await asyncio.wait_for(proc.communicate("\n".join(keywords).encode()), 60)
    assert proc.returncode == 0, err.decode()
    # The server's export: a BOM, Korean headers, a 합계 column.
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig"))))
    assert rows[0] == ["키워드", "블로그", "카페", "뉴스", "웹문서", "합계", "오류"]
    assert [r[0] for r in rows[1:]] == ["'=1+1", "'+SUM(1)", "'-2도", "'@A1", "맥북 =1"]
    for keyword, row in zip(keywords, rows[1:], strict=True):
        counts = [fake_total(keyword, API[c]) for c in CATS]
        assert row[1:] == [*(str(n) for n in counts), str(sum(counts)), ""]


async def jobs_of(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/api/documents/jobs") as r:
        jobs: list[dict[str, Any]] = (await r.json())["jobs"]
        return jobs


async def test_the_cli_exits_1_when_the_job_is_cancelled(
    tmp_path, fake_naver: tuple[FakeNaver, str], serve
) -> None:
    fake, base = fake_naver
    # One keyword at a time: its four categories, then every call held, the job running.
    url = await serve(base_settings(tmp_path, base, keyword_concurrency=1))
    fake.pause(after=4)
    proc = await start_cli("submit", "-", "--follow", "--server", url)
    assert proc.stdin is not None
    proc.stdin.write("하나\n둘\n셋\n".encode())
    proc.stdin.close()

    async def running() -> bool:
        jobs = await jobs_of(url)
        return bool(jobs) and jobs[0]["progress"]["current"] == 1

    await wait_until(running, timeout_s=30)
    job_id = (await jobs_of(url))[0]["id"]
    async with (
        aiohttp.ClientSession() as http,
        http.delete(f"{url}/api/documents/jobs/{job_id}") as resp,
    ):
        assert resp.status == 200

    # The worker sees the cancel on its own time; the held calls are let go only once it has
    # ended the job, or they could complete it first (a finished job is not cancelled after).
    async def cancelled() -> bool:
        return (await jobs_of(url))[0]["status"] == "cancelled"

    await wait_until(cancelled, timeout_s=30)
    fake.release()
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, err.decode()
    assert f"{job_id} 하나 외 2개: cancelled (1/3)" in err.decode()
    assert out.decode("utf-8-sig").splitlines()[0] == "키워드,블로그,카페,뉴스,웹문서,합계,오류"


async def test_the_cli_exits_1_when_the_job_fails(
    tmp_path, fake_naver: tuple[FakeNaver, str], serve
) -> None:
    fake, base = fake_naver
    fake.add_fault("401", times=100)  # the only key fails auth: nothing can be counted
    url = await serve(base_settings(tmp_path, base))
    proc = await start_cli("submit", "-", "--follow", "--server", url)
    _, err = await asyncio.wait_for(proc.communicate("하나\n".encode()), 60)
    assert proc.returncode == 1, err.decode()
    assert ": failed (0/1) - 사용 가능한 네이버 API 키가 없습니다" in err.decode()


async def test_the_cli_says_the_quota_plan_before_the_job_starts(
    tmp_path, fake_naver, serve
) -> None:
    url = await serve(base_settings(tmp_path, fake_naver[1]))
    proc = await start_cli("submit", "-", "--server", url, "--categories", "blog,cafe")
    _, err = await asyncio.wait_for(proc.communicate("맥북\n아이폰\n맥북\n".encode()), 60)
    assert proc.returncode == 0, err.decode()
    lines = err.decode().splitlines()
    plan = "할당량: API 호출 최대 4회 · 오늘 남은 한도 25,000회 · 오늘 안에 끝납니다"
    assert plan in lines
    started = next(i for i, line in enumerate(lines) if line.startswith("작업 시작: "))
    assert lines.index(plan) < started  # said before the job starts
