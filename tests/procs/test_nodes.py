"""Promises that only show between real processes: a cancel sent to a web node reaches the
job held by a worker process elsewhere within the promised time, and ``--log-format json``
makes every line the server writes a JSON object, with secrets masked."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.common import wait_until
from tests.support.procs import Proc, Procs, get_json, log_shows

TOKEN = "node-token-0123456789"
NAVER_SECRET = "test-secret"  # what Procs gives every process (NAVER_CLIENT_SECRET)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    group = Procs(tmp_path)
    yield group
    group.stop_all()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


async def post(session: aiohttp.ClientSession, url: str, body: Any, **kw: Any) -> Any:
    async with session.post(url, json=body, **kw) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_a_cancel_on_a_web_node_stops_the_job_in_a_worker_process(
    procs: Procs, session: aiohttp.ClientSession, redis_url: str
) -> None:
    upstream = await procs.upstream(latency_ms=0)
    worker = procs.worker("worker", redis_url, "--rate", "1000", "--keyword-concurrency", "2")
    node = await procs.web("node", redis_url)
    await log_shows(worker, "worker started")
    # Two keywords answered (one category each), then every call held: the job stays running
    # in the worker process, mid-way, for as long as the test needs.
    await post(session, f"{upstream.url}/_pause", {"after": 2})
    body = {"keywords": [f"취소{i}" for i in range(20)], "categories": ["blog"]}
    job_id = (await post(session, f"{node.url}/api/documents/batch", body))["jobId"]
    status_url = f"{node.url}/api/documents/status?jobId={job_id}"

    async def progress_is_2() -> bool:
        _, job = await get_json(session, status_url)
        return bool(job["job"]["progress"]["current"] == 2)

    await wait_until(progress_is_2, timeout_s=30)
    started = time.monotonic()
    async with session.delete(f"{node.url}/api/documents/jobs/{job_id}") as resp:
        assert resp.status == 200

    async def cancelled() -> bool:
        _, job = await get_json(session, status_url)
        return bool(job["job"]["status"] == "cancelled")

    await wait_until(cancelled, timeout_s=10, step_s=0.02)
    # The README: a cancel reaches the worker holding the job within 0.2 s from any node.
    # The worker then ends the job; the rest is slack for a loaded machine.
    assert time.monotonic() - started < 1.5
    await post(session, f"{upstream.url}/_release", None)
    _, job = await get_json(session, status_url)
    assert [r["index"] for r in job["job"]["results"]] == [0, 1]  # what was counted is kept
    assert f"작업 시작: {job_id}" in worker.log()


def json_lines(proc: Proc) -> list[dict[str, Any]]:
    lines = [line for line in proc.log().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        entry = json.loads(line)  # every line, or the test fails here naming it
        assert isinstance(entry, dict), line
        assert set(entry) >= {"ts", "level", "logger", "message"}, line
        parsed.append(entry)
    return parsed


async def test_log_format_json_through_a_started_server(
    procs: Procs, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    upstream = await procs.upstream(latency_ms=0)
    node = await procs.listening(
        "node",
        *("-m", "server", "serve", "--store", f"sqlite:///{tmp_path}/json.db"),
        *("--port", "{port}", "--log-format", "json", "--api-token", TOKEN, "--rate", "1000"),
        ready_path="/api/config",
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # The upstream quotes our secret back in an error; the next keyword carries the API token
    # (pasted by mistake), and the worker logs every keyword it counts: only the log handler's
    # own filter can mask that line.
    await post(session, f"{upstream.url}/_faults", {"kind": "echo", "query": "에코", "times": 10})
    body = {"keywords": ["에코", f"붙여넣은 {TOKEN}"], "categories": ["blog"]}
    started = await post(session, f"{node.url}/api/documents/batch", body, headers=auth)
    job_id, stream_token = started["jobId"], started["streamToken"]
    status_url = f"{node.url}/api/documents/status?jobId={job_id}"

    async def completed() -> bool:
        async with session.get(status_url, headers=auth) as resp:
            return bool((await resp.json())["job"]["status"] == "completed")

    await wait_until(completed, timeout_s=30)
    async with session.get(status_url, headers={"Authorization": "Bearer wrong"}) as resp:
        assert resp.status == 401
    # A URL carries the job's stream token, never the API token (which would be refused).
    events_url = f"{node.url}/api/documents/events?jobId={job_id}"
    async with session.get(f"{events_url}&token={TOKEN}") as r:
        assert r.status == 401
    async with session.get(f"{events_url}&token={stream_token}") as r:
        assert r.status == 200
        await r.read()  # a finished job's stream ends by itself
    await log_shows(node, job_id)
    node.kill(15)  # SIGTERM: the shutdown lines too

    entries = json_lines(node)
    messages = "\n".join(e["message"] + e.get("exc", "") for e in entries)
    assert any(job_id in e["message"] for e in entries)
    assert any(e["level"] == "info" and e["logger"].startswith("doccount") for e in entries)
    assert "bad secret" in messages  # the upstream's error was logged ...
    assert "붙여넣은 ***" in messages  # ... and the keyword line, masked ...
    for secret in (NAVER_SECRET, TOKEN, stream_token):
        assert secret not in node.log(), secret  # ... and no secret in any line
