"""The ``doccount`` command as a process: on a terminal (a pty), into files, and what it loads.

On a terminal the bar and the results share one screen: a result must never start on the bar's
line. Into files nothing but text: no ``\\r``, no escape codes. And ``status``/``watch`` must not
load the server's web app, store or worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.api.app import create_app
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver, fake_total
from tests.support.terminal import screen_lines

REPO = Path(__file__).resolve().parents[2]
CATS = ["blog", "cafe", "news", "web"]
API = {"blog": "blog", "cafe": "cafearticle", "news": "news", "web": "webkr"}
KEYWORDS = ["가평 글램핑", "맥북", "=1+1", "아이폰", "리뷰", "캠핑"]
PROCESS_TIMEOUT_S = 60  # a loaded 2-core machine; the job itself takes about a second
SERVER_MODULES = ("server.api", "server.live", "server.store", "server.work", "aiohttp.web")


def tsv_row(keyword: str) -> str:
    shown = "'" + keyword if keyword.startswith("=") else keyword
    return "\t".join([shown, *(str(fake_total(keyword, API[c])) for c in CATS), ""])


def export_csv_row(keyword: str) -> str:
    shown = "'" + keyword if keyword.startswith("=") else keyword
    counts = [fake_total(keyword, API[c]) for c in CATS]
    return ",".join([shown, *(str(n) for n in counts), str(sum(counts)), ""])


@pytest.fixture
async def slow_service(tmp_path: Path) -> AsyncIterator[str]:
    """A server whose upstream answers in 50 ms, one keyword at a time: the bar is drawn
    between results."""
    fake = FakeNaver(latency_s=0.05)
    upstream = TestServer(fake.app(), host="127.0.0.1")
    await upstream.start_server()
    settings = replace(
        base_settings(tmp_path, str(upstream.make_url("/v1/search"))), keyword_concurrency=1
    )
    app: web.Application = create_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()
    await upstream.close()


def doccount(*args: str) -> list[str]:
    return [sys.executable, "-m", "server", *args]


async def run_on_pty(argv: list[str]) -> tuple[int, str]:
    """Run with stdout and stderr on one pseudo-terminal; what the terminal received."""
    master, slave = os.openpty()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=REPO
    )
    os.close(slave)
    chunks: list[bytes] = []

    def read_all() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child's end is closed
                return
            if not data:
                return
            chunks.append(data)

    try:
        await asyncio.wait_for(asyncio.gather(asyncio.to_thread(read_all), proc.wait()), 60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        os.close(master)
    assert proc.returncode is not None
    return proc.returncode, b"".join(chunks).decode()


async def test_on_a_terminal_results_never_share_the_bars_line(tmp_path, slow_service):
    path = tmp_path / "k.txt"
    path.write_text("\n".join(KEYWORDS) + "\n", encoding="utf-8")
    code, text = await run_on_pty(
        doccount("submit", str(path), "--follow", "--format", "tsv", "--server", slow_service)
    )
    assert code == 0, text
    assert "[#" in text  # the bar was drawn, and redrawn in place
    plan, *lines = screen_lines(text)
    assert plan == "할당량: API 호출 최대 24회 · 오늘 남은 한도 25,000회 · 오늘 안에 끝납니다"
    assert lines[0].startswith("작업 시작: batch_") and lines[0].endswith(" (키워드 6개)")
    job_id = lines[0].removeprefix("작업 시작: ").split(" ")[0]
    assert lines[1:8] == ["keyword\tblog\tcafe\tnews\tweb\terror", *(tsv_row(k) for k in KEYWORDS)]
    assert lines[8].startswith("[########################] 6/6 100%")
    assert lines[9:] == [f"{job_id} 가평 글램핑 외 5개: completed (6/6)", ""]


async def test_into_files_only_text(tmp_path, slow_service):
    path = tmp_path / "k.txt"
    path.write_text("\n".join(KEYWORDS) + "\n", encoding="utf-8")
    out_path, err_path = tmp_path / "out.csv", tmp_path / "err.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *doccount("submit", str(path), "--follow", "--server", slow_service),
            stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err, cwd=REPO,
        )  # fmt: skip
        assert await asyncio.wait_for(proc.wait(), PROCESS_TIMEOUT_S) == 0
    out_text = out_path.read_bytes().decode("utf-8")
    err_text = err_path.read_text(encoding="utf-8")
    # The server's export: a BOM, Korean headers, CRLF rows, formulas defused.
    assert out_text == "\ufeff" + "\r\n".join(
        ["키워드,블로그,카페,뉴스,웹문서,합계,오류", *(export_csv_row(k) for k in KEYWORDS), ""]
    )
    plan = "할당량: API 호출 최대 24회 · 오늘 남은 한도 25,000회 · 오늘 안에 끝납니다\n"
    job_id = err_text.removeprefix(plan).removeprefix("작업 시작: ").split(" ")[0]
    assert err_text == (
        f"{plan}작업 시작: {job_id} (키워드 6개)\n{job_id} 가평 글램핑 외 5개: completed (6/6)\n"
    )


async def imported_modules(argv: list[str]) -> tuple[int, set[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "importtime", *argv[1:],
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), PROCESS_TIMEOUT_S)
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in err.decode().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert proc.returncode is not None
    return proc.returncode, modules


@pytest.mark.parametrize("command", ["status", "watch"])
async def test_status_and_watch_load_nothing_of_the_server(tmp_path, fake_naver, command):
    app: web.Application = create_app(base_settings(tmp_path, fake_naver[1]))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        path = tmp_path / "k.txt"
        path.write_text("맥북\n", encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            *doccount("submit", str(path), "--server", url),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), PROCESS_TIMEOUT_S)
        job_id = out.decode().strip()
        code, modules = await imported_modules(doccount(command, job_id, "--server", url))
    finally:
        await server.close()
    assert code == 0
    assert "server.client.api" in modules  # the probe sees the client's own modules
    loaded = sorted(m for m in modules if m.startswith(SERVER_MODULES))
    assert loaded == []
