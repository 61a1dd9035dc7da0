"""Helpers of the live-push tests: jobs driven event by event through the store, the log as the
store holds it, and small clients.

SSE framing is checked with independent parsers (httpx-sse, sseclient-py); ``SseBlocks`` is a
minimal incremental reader for the load tests only, where those would be too slow or block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from server.appkeys import STORE, WORKER
from server.events import Event
from server.model import JobSpec, new_job_id, now_ms
from server.store.base import Store

WORKER_ID = "test-worker"


async def submit(client: TestClient[Any, Any], keywords: list[str]) -> str:
    resp = await client.post(
        "/api/documents/batch", json={"keywords": keywords, "categories": ["blog"]}
    )
    body = await resp.json()
    assert resp.status == 200, body
    job_id: str = body["jobId"]
    return job_id


async def status_of(client: TestClient[Any, Any], job_id: str) -> dict[str, Any]:
    """The job's status JSON, as ``GET /api/documents/status`` answers it."""
    resp = await client.get(f"/api/documents/status?jobId={job_id}")
    assert resp.status == 200
    job: dict[str, Any] = (await resp.json())["job"]
    return job


async def run_job(client: TestClient[Any, Any], keywords: list[str]) -> tuple[str, dict[str, Any]]:
    """Submit ``keywords`` and run the app's own worker (``run_worker=False``) until it is
    idle, having counted this job alone; its id and final status JSON."""
    job_id = await submit(client, keywords)
    assert await client.app[WORKER].run_until_idle() == [job_id]
    return job_id, await status_of(client, job_id)


async def create_job(store: Store, keywords: list[str]) -> str:
    """A job stored directly (no keyword limit): event 1 is its ``pending`` status."""
    created = now_ms()
    spec = JobSpec(
        id=new_job_id(created),
        keywords=tuple(keywords),
        categories=("blog",),
        priority=1,
        created_ms=created,
        source="test",
        client="test",
    )
    await store.create_job(spec)
    return spec.id


def result(index: int, keyword: str) -> dict[str, Any]:
    return {
        "index": index,
        "keyword": keyword,
        "counts": {"blog": index},
        "source": "test",
        "cached": [],
        "error": None,
    }


class Driver:
    """Writes a job's events one by one, as the worker would (claim, results, finish)."""

    def __init__(self, store: Store, job_id: str, keywords: list[str]) -> None:
        self.store = store
        self.job_id = job_id
        self.keywords = keywords
        self.next_index = 0

    @classmethod
    async def start(cls, client: TestClient[Any, Any], keywords: list[str]) -> Driver:
        store = client.app[STORE]
        job_id = await submit(client, keywords)
        return cls(store, job_id, keywords)

    async def claim(self) -> Event:
        claimed = await self.store.claim_next(WORKER_ID, 0)
        assert claimed is not None and claimed.id == self.job_id
        return (await log_of(self.store, self.job_id))[-1]

    async def step(self) -> Event:
        """The next result, or the terminal status after the last one."""
        if self.next_index == len(self.keywords):
            return await self.store.finish(self.job_id, "completed", None, WORKER_ID)
        i = self.next_index
        self.next_index += 1
        return await self.store.record_result(
            self.job_id, i, result(i, self.keywords[i]), WORKER_ID
        )

    async def run_to_end(self) -> None:
        while self.next_index < len(self.keywords):
            await self.step()
        await self.step()


async def log_of(store: Store, key: str) -> list[Event]:
    events: list[Event] = []
    after: str | None = None
    while True:
        page = await store.read_events(key, after, limit=1000)
        if not page.events:
            return events
        events.extend(page.events)
        after = page.events[-1].id


def frames(log: list[Event]) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, type, payload) of each event: what a subscriber must receive, exactly."""
    return [(e.id, e.type, json.loads(e.json)) for e in log]


@dataclass
class Block:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class SseBlocks:
    """Reads an aiohttp response as SSE blocks, one at a time (comments skipped)."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp

    async def next(self) -> Block | None:
        """The next event block, or None at the end of the stream."""
        while True:
            raw = await self.resp.content.readuntil(b"\n\n")
            if not raw.endswith(b"\n\n"):
                return None
            fields: dict[str, str] = {}
            for line in raw.decode().splitlines():
                if not line or line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                fields[name] = fields[name] + "\n" + value if name in fields else value
            if "data" in fields:
                return Block(fields.get("id"), fields.get("event", "message"), fields["data"])
