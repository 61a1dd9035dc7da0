"""``DocCount`` (async) and ``DocCountSync`` against the running service: typed jobs and results,
every result exactly once through a dropped connection, resume by id, errors with their codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.api.app import create_app
from server.client import (
    DocCount,
    DocCountError,
    DocCountSync,
    Event,
    Job,
    Progress,
    ProgressEvent,
    Result,
    ResultEvent,
    StatusEvent,
)
from server.settings import Settings
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver, fake_total
from tests.support.liveserver import LiveServer
from tests.support.tcpproxy import TcpProxy

TOKEN = "lib-token"
CATS = ("blog", "cafe", "news", "web")
API = {"blog": "blog", "cafe": "cafearticle", "news": "news", "web": "webkr"}
KEYWORDS = [f"키워드{i}" for i in range(8)]


def counts(keyword: str) -> dict[str, int]:
    return {c: fake_total(keyword, API[c]) for c in CATS}


@pytest.fixture
async def slow_service(tmp_path: Path) -> AsyncIterator[str]:
    """Upstream answers in 50 ms, one keyword at a time: a job of 8 runs about 1.6 s."""
    fake = FakeNaver(latency_s=0.05)
    upstream = TestServer(fake.app(), host="127.0.0.1")
    await upstream.start_server()
    settings = base_settings(
        tmp_path, str(upstream.make_url("/v1/search")), keyword_concurrency=1, api_token=TOKEN
    )
    app: web.Application = create_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()
    await upstream.close()


async def test_watch_yields_every_result_once_through_a_dropped_connection(slow_service):
    host, port = slow_service.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    events: list[Event] = []
    try:
        async with DocCount(f"http://127.0.0.1:{proxy.port}", token=TOKEN) as dc:
            job = await dc.submit(KEYWORDS, categories=CATS)
            assert isinstance(job, Job) and job.categories == CATS
            assert job.progress == Progress(job.progress.current, 8)
            async for event in dc.watch(job.id):
                events.append(event)
                results_so_far = sum(isinstance(e, ResultEvent) for e in events)
                if isinstance(event, ResultEvent) and results_so_far == 2 and dc.reconnects == 0:
                    assert proxy.cut() >= 2  # the stream, both ends: a network drop mid-job
            assert dc.reconnects >= 1
            final = await dc.status(job.id)
    finally:
        await proxy.close()
    assert isinstance(events[0], StatusEvent) and events[0].status in ("pending", "processing")
    last = events[-1]
    assert isinstance(last, StatusEvent) and last.done and last.status == "completed"
    assert last.progress == Progress(8, 8)
    results = [e.result for e in events if isinstance(e, ResultEvent)]
    assert [r.index for r in results] == list(range(8))
    assert [r.keyword for r in results] == KEYWORDS
    assert all(r.counts == counts(r.keyword) and r.error is None for r in results)
    assert all(r.source == "naver" for r in results)
    assert len(proxy.requests("/api/documents/events")) >= 2  # it did reconnect
    assert final.status == "completed" and final.done
    assert [(r.index, r.keyword, r.counts) for r in final.results] == [
        (r.index, r.keyword, r.counts) for r in results
    ]


async def test_watch_resumes_from_an_event_id(slow_service):
    async with DocCount(slow_service, token=TOKEN) as dc:
        job_id = (await dc.submit(KEYWORDS)).id
        first: list[Result] = []
        resume_id = ""
        async for event in dc.watch(job_id):
            if isinstance(event, ResultEvent):
                first.append(event.result)
                resume_id = event.id
                if len(first) == 3:
                    break  # the program stops here, and later goes on from resume_id
        rest = [
            e.result async for e in dc.watch(job_id, last_event_id=resume_id)
            if isinstance(e, ResultEvent)
        ]  # fmt: skip
    assert [r.index for r in first + rest] == list(range(8))


async def test_errors_carry_the_servers_code_and_status(slow_service):
    async with DocCount(slow_service, token=TOKEN) as dc:
        with pytest.raises(DocCountError) as caught:
            await dc.status("batch_1700000000000_AAAAAAAAAAAAAAAAAAAAAA")
        assert (caught.value.code, caught.value.status) == ("job_not_found", 404)
        with pytest.raises(DocCountError) as caught:
            await dc.submit([])
        assert (caught.value.code, caught.value.status) == ("empty_keywords", 400)
    async with DocCount(slow_service, token="wrong") as dc:
        with pytest.raises(DocCountError) as caught:
            await dc.jobs()
        assert (caught.value.code, caught.value.status) == ("unauthorized", 401)
    async with DocCount("http://127.0.0.1:9", token=TOKEN) as dc:  # discard port: refused
        with pytest.raises(DocCountError) as caught:
            await dc.jobs()
        assert (caught.value.code, caught.value.status) == ("connection_error", None)


async def test_cancel_and_jobs_are_typed(slow_service):
    async with DocCount(slow_service, token=TOKEN) as dc:
        job = await dc.submit(KEYWORDS * 10, priority="low")
        cancelled = await dc.cancel(job.id)
        assert cancelled.id == job.id and cancelled.priority == "low"
        final = await dc.wait(job.id)
        assert final.status == "cancelled" and final.progress.current < 80
        listed = await dc.jobs(limit=5)
        assert [j.id for j in listed] == [job.id]


def sync_settings(tmp_path: Path, naver_url: str) -> Settings:
    return replace(base_settings(tmp_path, naver_url), api_token=TOKEN)


def test_the_sync_client_in_a_script_and_inside_a_running_loop(tmp_path):
    with (
        LiveServer(lambda url: sync_settings(tmp_path, url)) as live,
        DocCountSync(live.url, token=TOKEN) as dc,
    ):
        job = dc.submit(["맥북", "아이폰"], categories=["blog", "news"])
        events = list(dc.watch(job.id))
        assert isinstance(events[-1], StatusEvent) and events[-1].status == "completed"
        assert [e.result.keyword for e in events if isinstance(e, ResultEvent)] == [
            "맥북",
            "아이폰",
        ]
        assert not any(isinstance(e, ProgressEvent) and e.progress.total != 2 for e in events)

        async def in_a_notebook() -> Job:
            # A notebook's cell runs inside a loop: asyncio.run would refuse, this does not.
            return dc.wait(dc.submit(["리뷰"]).id)

        final = asyncio.run(in_a_notebook())
        assert final.status == "completed"
        assert [(r.keyword, r.counts) for r in final.results] == [("리뷰", counts("리뷰"))]
