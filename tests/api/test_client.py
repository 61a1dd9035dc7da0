"""The ``doccount submit/watch/status`` client against a live server, a dropped stream included."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.api.app import create_app
from server.cli import build_parser
from server.client import (
    Command,
    SseEvent,
    SseParser,
    command_from_args,
    run_command,
)
from server.kst import format_kst, next_kst_midnight_ms
from server.model import now_ms
from server.settings import Settings
from tests.api.test_security import UNAUTHORIZED
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver, fake_total
from tests.support.tcpproxy import TcpProxy

TOKEN = "cli-token"
CATS = ["blog", "cafe", "news", "web"]
API = {"blog": "blog", "cafe": "cafearticle", "news": "news", "web": "webkr"}


HEADER = ["키워드", "블로그", "카페", "뉴스", "웹문서", "합계", "오류"]


def export_row(keyword: str) -> list[str]:
    counts = [fake_total(keyword, API[c]) for c in CATS]
    return [keyword, *(str(n) for n in counts), str(sum(counts)), ""]


def export_rows(text: str) -> list[list[str]]:
    """The server's CSV export: a BOM, then CRLF rows."""
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    servers: list[TestServer] = []

    async def _serve(settings: Settings) -> str:
        app: web.Application = create_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield _serve
    for server in servers:
        await server.close()


def keywords_file(tmp_path: Path, keywords: list[str]) -> str:
    path = tmp_path / "keywords.txt"
    path.write_text("\n".join(keywords) + "\n\n", encoding="utf-8")
    return str(path)


async def run(cmd: Command) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run_command(cmd, out, err, io.StringIO())
    return code, out.getvalue(), err.getvalue()


# --- framing and rendering --------------------------------------------------------------


def test_sse_parser_framing() -> None:
    parser = SseParser()
    lines = [": heartbeat", "retry: 2000", "event: result", "id: 7", 'data: {"a":', "data:1}", ""]
    assert [parser.feed(line) for line in lines][-1] == SseEvent("result", '{"a":\n1}', "7")
    assert parser.retry_ms == 2000
    # No data: nothing is dispatched, but the id sticks; an id with NUL is ignored.
    assert parser.feed("id: 8") is None and parser.feed("") is None
    assert parser.feed("id: 9\0") is None
    assert [parser.feed(x) for x in ("data:x", "")][-1] == SseEvent("message", "x", "8")


def test_command_from_argv_and_environment() -> None:
    args = build_parser().parse_args(
        ["submit", "k.txt", "--follow", "--format", "jsonl", "--categories", "blog,news"]
    )
    cmd = command_from_args(args, {"DOCCOUNT_API_TOKEN": "t", "DOCCOUNT_SERVER": "http://h:1"})
    assert cmd == Command(
        name="submit",
        server="http://h:1",
        token="t",
        fmt="jsonl",
        follow=True,
        keywords_file="k.txt",
        categories=["blog", "news"],
    )
    args = build_parser().parse_args(["watch", "JOB", "--server", "http://x:2"])
    assert command_from_args(args, {}) == Command(
        name="watch", server="http://x:2", token=None, job_id="JOB"
    )


# --- against a live server ----------------------------------------------------------------


async def test_submit_follow_writes_csv_and_progress(tmp_path, fake_naver, serve):
    url = await serve(replace(base_settings(tmp_path, fake_naver[1]), api_token=TOKEN))
    keywords = ["맥북", "아이폰", "맥북"]
    code, out, err = await run(
        Command("submit", url, TOKEN, follow=True, keywords_file=keywords_file(tmp_path, keywords))
    )
    assert code == 0, err
    assert export_rows(out) == [HEADER, *(export_row(k) for k in keywords)]
    # stderr is no terminal here: no bar, no escape codes, just the three lines
    plan = "할당량: API 호출 최대 8회 · 오늘 남은 한도 25,000회 · 오늘 안에 끝납니다\n"
    job_id = err.removeprefix(plan).split(": ", 1)[1].split(" ", 1)[0]
    assert err == f"{plan}작업 시작: {job_id} (키워드 3개)\n{job_id} 맥북 외 2개: completed (3/3)\n"


async def test_submit_without_follow_prints_the_id(tmp_path, fake_naver, serve):
    url = await serve(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))
    code, out, _ = await run(
        Command("submit", url, None, keywords_file=keywords_file(tmp_path, ["a"]))
    )
    assert code == 0 and out.startswith("batch_") and out.count("\n") == 1
    code, out, err = await run(Command("status", url, None, job_id=out.strip(), fmt="jsonl"))
    assert (code, out) == (0, "")
    # no worker runs: the health watch may already say so (server/work/health.py)
    assert re.fullmatch(r"batch_\S+ a: pending \(0/1\)( · 작업자 없음)?", err.rstrip()), err


async def test_wrong_token_is_a_clear_error(tmp_path, fake_naver, serve):
    url = await serve(replace(base_settings(tmp_path, fake_naver[1]), api_token=TOKEN))
    code, out, err = await run(Command("status", url, "nope", job_id="x"))
    assert (code, out) == (2, "")
    assert err == f"doccount: {UNAUTHORIZED['error']} (unauthorized)\n"


async def test_a_failed_job_exits_non_zero(tmp_path, fake_naver, serve):
    fake, base = fake_naver
    fake.add_fault("401", times=100)  # the only key fails auth: nothing can be counted
    url = await serve(base_settings(tmp_path, base))
    code, out, err = await run(
        Command("submit", url, None, follow=True, keywords_file=keywords_file(tmp_path, ["a"]))
    )
    assert code == 1
    assert export_rows(out) == [HEADER]
    assert ": failed (0/1) - 사용 가능한 네이버 API 키가 없습니다" in err


async def test_watch_resumes_after_a_dropped_connection(tmp_path, serve):
    # A slow upstream and one keyword at a time, so the job is still running at the cut.
    fake = FakeNaver(latency_s=0.05)
    upstream = TestServer(fake.app(), host="127.0.0.1")
    await upstream.start_server()
    settings = replace(
        base_settings(tmp_path, str(upstream.make_url("/v1/search"))), keyword_concurrency=1
    )
    url = await serve(settings)
    host, port = url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    keywords = [f"키워드{i}" for i in range(8)]
    out, err = io.StringIO(), io.StringIO()
    cmd = Command(
        "submit",
        f"http://127.0.0.1:{proxy.port}",
        None,
        fmt="jsonl",
        follow=True,
        keywords_file=keywords_file(tmp_path, keywords),
    )
    try:
        task = asyncio.create_task(run_command(cmd, out, err, io.StringIO()))
        await wait_until(lambda: out.getvalue().count("\n") >= 2)
        assert proxy.cut() >= 2  # the stream, both ends
        assert await asyncio.wait_for(task, 30) == 0, err.getvalue()
    finally:
        await proxy.close()
        await upstream.close()
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["index"] for r in results] == list(range(8))
    assert [r["keyword"] for r in results] == keywords
    assert results[5]["counts"] == {c: fake_total(keywords[5], API[c]) for c in CATS}
    streams = proxy.requests("/api/documents/events")
    assert len(streams) == 2
    first, second = (
        int(
            next(h for h in head.split("\r\n") if h.lower().startswith("last-event-id:")).split(
                ":"
            )[1]
        )
        for head in streams
    )
    assert second > first  # resumed after what it had seen, not from the start


async def test_the_console_script_end_to_end(tmp_path, fake_naver, serve):
    url = await serve(replace(base_settings(tmp_path, fake_naver[1]), api_token=TOKEN))
    env = {**os.environ, "DOCCOUNT_API_TOKEN": TOKEN}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "submit", "-", "--follow", "--server", url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate("맥북\n리뷰\n".encode()), 30)
    assert proc.returncode == 0, err.decode()
    assert export_rows(out.decode()) == [HEADER, export_row("맥북"), export_row("리뷰")]


async def test_watch_and_status_of_a_finished_job(tmp_path, fake_naver, serve):
    url = await serve(base_settings(tmp_path, fake_naver[1]))
    code, out, _ = await run(
        Command("submit", url, None, keywords_file=keywords_file(tmp_path, ["맥북"]))
    )
    job_id = out.strip()
    code, out, err = await run(Command("watch", url, None, job_id=job_id, fmt="jsonl"))
    assert code == 0, err
    (result,) = [json.loads(line) for line in out.splitlines()]
    assert (result["index"], result["keyword"]) == (0, "맥북")
    assert result["counts"] == {c: fake_total("맥북", API[c]) for c in CATS}
    code, out, err = await run(Command("status", url, None, job_id=job_id))
    assert code == 0 and export_rows(out) == [HEADER, export_row("맥북")]
    assert err == f"{job_id} 맥북: completed (1/1)\n"


async def test_csv_and_xlsx_are_the_servers_export(tmp_path, fake_naver, serve):
    url = await serve(base_settings(tmp_path, fake_naver[1]))
    keywords = keywords_file(tmp_path, ["맥북", "=1+1"])
    xlsx_path = tmp_path / "out.xlsx"
    code, out, err = await run(
        Command(
            "submit", url, None, fmt="xlsx", follow=True, keywords_file=keywords,
            job_name="봄 캠핑", output=str(xlsx_path),
        )
    )  # fmt: skip
    assert (code, out) == (0, ""), err
    plan, started, ended = err.splitlines()
    assert plan.startswith("할당량: ")
    job_id = started.split(": ", 1)[1].split(" ", 1)[0]
    assert ended == f"{job_id} 봄 캠핑: completed (2/2)"
    book = openpyxl.load_workbook(xlsx_path)
    assert book.active is not None
    rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    row = export_row("맥북")
    assert rows == [
        HEADER,
        [row[0], *(int(v) for v in row[1:6]), None],
        ["=1+1", *(int(v) for v in export_row("=1+1")[1:6]), None],
    ]
    # The CLI's CSV is the endpoint's, byte for byte.
    code, out, _ = await run(Command("status", url, None, job_id=job_id, fmt="csv"))
    async with aiohttp.ClientSession() as session:
        resp = await session.get(f"{url}/api/documents/jobs/{job_id}/export?format=csv")
        assert out.encode() == await resp.read()
    assert export_rows(out)[2][0] == "'=1+1"  # defused in CSV; the workbook keeps text as text


async def test_watch_by_polling_asks_only_for_what_is_new(tmp_path, serve):
    """``--poll``: every result written once, in order, across a dropped connection, and every
    poll but the first carries ``since`` = the last answer's lastEventId."""
    fake = FakeNaver(latency_s=0.05)
    upstream = TestServer(fake.app(), host="127.0.0.1")
    await upstream.start_server()
    settings = replace(
        base_settings(tmp_path, str(upstream.make_url("/v1/search"))), keyword_concurrency=1
    )
    url = await serve(settings)
    host, port = url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    keywords = [f"폴링{i}" for i in range(6)]
    out, err = io.StringIO(), io.StringIO()
    cmd = Command(
        "submit",
        f"http://127.0.0.1:{proxy.port}",
        None,
        fmt="jsonl",
        follow=True,
        keywords_file=keywords_file(tmp_path, keywords),
        poll=True,
        poll_every_s=0.05,
    )
    try:
        task = asyncio.create_task(run_command(cmd, out, err, io.StringIO()))
        await wait_until(lambda: out.getvalue().count("\n") >= 2)
        proxy.cut()
        assert await asyncio.wait_for(task, 30) == 0, err.getvalue()
    finally:
        await proxy.close()
        await upstream.close()
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["keyword"] for r in results] == keywords
    assert [r["index"] for r in results] == list(range(6))
    polls = [h.split("\r\n", 1)[0] for h in proxy.requests("/api/documents/status")]
    # The first read is the full one (what watch starts from); every later one asks for less.
    assert len(polls) >= 3 and "since=" not in polls[0]
    assert all(re.search(r"since=[1-9]\d* ", p) for p in polls[1:]), polls
    assert proxy.requests("/api/documents/events") == []


def test_poll_flag_on_watch_and_submit() -> None:
    parser = build_parser()
    for argv in (["watch", "JOB", "--poll"], ["submit", "k.txt", "--follow", "--poll"]):
        assert command_from_args(parser.parse_args(argv), {}).poll is True
    assert command_from_args(parser.parse_args(["watch", "JOB"]), {}).poll is False


async def test_submit_with_every_key_spent_is_taken_and_status_says_till_when(
    tmp_path, fake_naver, serve
):
    """Issue 14: the only key's quota is found spent at start (010 on the key check): the CLI's
    submit is taken (not 503), its plan says nothing is left today, and `status` says the job
    waits for midnight KST."""
    fake, base = fake_naver
    fake.add_fault("quota", query="doccount")
    url = await serve(replace(base_settings(tmp_path, base), check_keys=True))
    code, out, err = await run(
        Command("submit", url, None, keywords_file=keywords_file(tmp_path, ["맥북"]))
    )
    assert code == 0, err
    job_id = out.strip()
    midnight_ms = next_kst_midnight_ms(now_ms())
    at = format_kst(midnight_ms)
    assert err == (
        "할당량: API 호출 최대 4회 · 오늘 남은 한도 0회 · 오늘 한도를 넘습니다: "
        f"한도 초기화 후 이어서 조회하며 {at} 이후에 끝납니다\n"
        f"작업 시작: {job_id} (키워드 1개)\n"
    )

    async def waiting() -> bool:
        _, _, said = await run(Command("status", url, None, job_id=job_id))
        return "일일 호출 한도 소진" in said

    await wait_until(waiting, timeout_s=10.0)
    code, out, err = await run(Command("status", url, None, job_id=job_id))
    assert code == 0
    assert (
        err
        == f"{job_id} 맥북: processing (0/1) · 일일 호출 한도 소진 · {at}에 자동으로 재개합니다\n"
    )
    assert [c.query for c in fake.calls] == ["doccount"]  # the check; nothing since
