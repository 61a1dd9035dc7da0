"""The whole HTTP flow on both engines (the app from the store URL, the fake upstream, the
worker), and Redis being away: a clear 503, and a worker that waits for the store."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import STORE, WORKER
from server.codec import loads
from server.errors import StoreUnavailableError
from server.model import JOBS_FEED
from server.store import Store
from server.work.worker import Worker
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver, fake_total
from tests.support.processes import free_port
from tests.support.streams import SseBlocks, status_of, submit


async def test_batch_flow_with_the_in_app_worker(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    fake, base = fake_naver
    client = await make_client(replace(base_settings(tmp_path, base), store_url=store_url))
    resp = await client.post(
        "/api/documents/batch", json={"keywords": ["맥북", "리뷰", "커피"], "categories": ["blog"]}
    )
    body = await resp.json()
    assert resp.status == 200 and body["success"] is True
    job_id = body["jobId"]

    async def completed() -> bool:
        return (await status_of(client, job_id))["status"] == "completed"

    await wait_until(completed, timeout_s=10.0)
    job = await status_of(client, job_id)
    assert [r["keyword"] for r in job["results"]] == ["맥북", "리뷰", "커피"]
    assert [r["counts"] for r in job["results"]] == [
        {"blog": fake_total(k, "blog")} for k in ("맥북", "리뷰", "커피")
    ]
    assert job["progress"] == {"current": 3, "total": 3}
    events = (await client.app[STORE].read_events(job_id, None)).events
    assert job["lastEventId"] == events[-1].id
    assert [loads(e.json).get("status") for e in events if e.type == "status"] == [
        "pending",
        "processing",
        "completed",
    ]
    assert len(fake.calls) == 3
    listed = await (await client.get("/api/documents/jobs")).json()
    assert [j["id"] for j in listed["jobs"]] == [job_id]


async def test_cancel_and_priority_over_http(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    _, base = fake_naver
    settings = replace(base_settings(tmp_path, base), store_url=store_url, run_worker=False)
    client = await make_client(settings)
    ids = []
    for priority in ("low", "normal", "high"):
        resp = await client.post(
            "/api/documents/batch", json={"keywords": ["a"], "priority": priority}
        )
        ids.append((await resp.json())["jobId"])
    low, normal, high = ids
    assert [(await status_of(client, j))["queuePosition"] for j in ids] == [3, 2, 1]
    resp = await client.delete(f"/api/documents/jobs/{normal}")
    assert resp.status == 200 and (await resp.json())["job"]["status"] == "cancelled"
    assert await client.app[WORKER].run_until_idle() == [high, low]
    assert (await status_of(client, normal))["status"] == "cancelled"
    feed = (await client.app[STORE].read_events(JOBS_FEED, None)).events
    assert {loads(e.json)["job"]["id"] for e in feed} == set(ids)


async def test_redis_down_answers_503_json(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = replace(base_settings(tmp_path, fake_naver[1]), store_url=dead, run_worker=False)
    client = await make_client(settings)
    job_id = "batch_1700000000000_" + "A" * 22
    for method, path, body in (
        ("GET", f"/api/documents/status?jobId={job_id}", None),
        ("POST", "/api/documents/batch", {"keywords": ["a"]}),
        ("GET", "/api/documents/jobs", None),
        ("DELETE", f"/api/documents/jobs/{job_id}", None),
        ("GET", "/api/stats", None),
        ("GET", f"/api/documents/events?jobId={job_id}", None),
    ):
        resp = await client.request(method, path, json=body)
        assert resp.status == 503, path
        assert resp.headers["Content-Type"].startswith("application/json")
        assert resp.headers["Retry-After"] == "5", path  # every 503 says when to come back
        assert await resp.json() == {
            "success": False,
            "error": "저장소에 연결할 수 없습니다. 잠시 후 다시 시도하세요",
            "code": "store_unavailable",
        }, path


class FlakyStore:
    """Wraps a store; the named methods fail ``times`` times each before going through."""

    def __init__(self, inner: Store, times: int, *names: str) -> None:
        self._inner = inner
        self.failures = {name: times for name in names}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in self.failures:
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.failures[name] > 0:
                self.failures[name] -= 1
                raise StoreUnavailableError("Redis unavailable: test")
            return await target(*args, **kwargs)

        return call


async def test_worker_waits_out_store_outages(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    fake, base = fake_naver
    client = await make_client(replace(base_settings(tmp_path, base), run_worker=False))
    resp = await client.post("/api/documents/batch", json={"keywords": ["a", "b", "c"]})
    job_id = (await resp.json())["jobId"]
    store = client.app[STORE]
    flaky: Any = FlakyStore(store, 2, "claim_next", "record_result", "finish")
    worker = Worker(flaky, client.app[WORKER].counter, replace(client.app[WORKER].settings))
    runner = asyncio.create_task(worker.run(poll_s=0.05))
    try:

        async def completed() -> bool:
            job = await store.get_job(job_id, with_results=False)
            return job is not None and job["status"] == "completed"

        await wait_until(completed, timeout_s=10.0)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    job = await store.get_job(job_id)
    assert job is not None and [r["index"] for r in job["results"]] == [0, 1, 2]
    assert flaky.failures == {"claim_next": 0, "record_result": 0, "finish": 0}
    assert len(fake.calls) == 3 * 4  # nothing counted twice


async def sse_all(resp: Any) -> list[Any]:
    blocks, out = SseBlocks(resp), []
    while (block := await blocks.next()) is not None:
        out.append(block)
    return out


async def test_live_push_sse_and_websocket_on_both_engines(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    """The same events, ids and JSON to SSE and WebSocket subscribers, resume by id, and a
    snapshot marked gap when the log no longer reaches back: whichever engine is below."""
    settings = replace(base_settings(tmp_path, fake_naver[1]), store_url=store_url)
    client = await make_client(replace(settings, run_worker=False))
    store = client.app[STORE]
    job_id = await submit(client, ["a", "b", "c", "d"])
    sse = await client.get(f"/api/documents/events?jobId={job_id}")
    assert sse.status == 200
    ws = await client.ws_connect("/api/documents/ws")
    await ws.send_json({"type": "subscribe", "jobId": job_id})
    assert (await ws.receive_json())["type"] == "snapshot"
    assert await client.app[WORKER].run_until_idle() == [job_id]

    log = (await store.read_events(job_id, None)).events
    blocks = await sse_all(sse)
    assert blocks[0].event == "snapshot" and blocks[0].id == "1"
    assert [(b.id, b.data) for b in blocks[1:]] == [(e.id, e.json) for e in log[1:]]
    frames = []
    while not frames or frames[-1]["type"] != "status" or frames[-1]["status"] != "completed":
        frames.append(await ws.receive_json())
    assert [f["id"] for f in frames] == [e.id for e in log[1:]]
    await ws.close()

    middle = log[3].id
    resumed = await client.get(
        f"/api/documents/events?jobId={job_id}", headers={"Last-Event-ID": middle}
    )
    assert [b.data for b in await sse_all(resumed)] == [e.json for e in log[4:]]

    # Trim the log's start, as a capped log would, then resume from before it.
    if store_url.startswith("sqlite"):
        db: Any = store.db  # type: ignore[attr-defined]
        await store._run(  # type: ignore[attr-defined]
            lambda: db.execute("DELETE FROM events WHERE job_id = ? AND seq <= 3", (job_id,))
        )
    else:
        redis: Any = store._r  # type: ignore[attr-defined]
        await redis.xtrim(store._log_key(job_id), minid="4-0", approximate=False)  # type: ignore[attr-defined]
    gapped = await sse_all(
        await client.get(f"/api/documents/events?jobId={job_id}", headers={"Last-Event-ID": "1"})
    )
    assert gapped[0].event == "snapshot" and gapped[0].json()["gap"] is True
    assert gapped[0].json()["job"]["status"] == "completed"
