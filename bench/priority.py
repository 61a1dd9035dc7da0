"""Priority: a small job's time beside a big one, against the time its weighted share allows.

Method. One key at R calls/s against the fake upstream (50 ms latency). A 1,000-keyword normal
job (4 categories: 4,000 calls) runs; once it has run for 2 s, a 2-keyword job (8 calls) of
priority P is submitted. Weights are high 4 : normal 2 : low 1, so beside the normal job it
gets w / (w + 2) of the rate, and its 8 calls cannot take less than 8 / (R · w / (w + 2)). The
figure is its makespan (createdAt → completedAt, the server's clock) over that bound; the goal
is ≤ 1.3× for high, and for low that it gets its share at all (≤ 1.3× too: it never starves).
The normal job is cancelled at the end.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from .common import Procs, Row, Section
from .stack import (
    Server,
    redis_store_available,
    start_server,
    start_store,
    start_upstream,
    wait_done,
)

CATEGORIES = ["blog", "cafe", "news", "web"]
LATENCY_MS = 50.0
RATE = 10.0
WEIGHTS = {"high": 4, "normal": 2, "low": 1}
GOAL = 1.3


async def post(http: aiohttp.ClientSession, server: Server, body: dict[str, Any]) -> str:
    async with http.post(f"{server.base}/api/documents/batch", json=body) as resp:
        data = await resp.json()
    if not data.get("success"):
        raise RuntimeError(f"submit failed: {data}")
    job_id: str = data["jobId"]
    return job_id


async def one_case(section: Section, *, store: str, priority: str, uvloop: bool) -> None:
    with Procs(section) as procs:
        upstream = await start_upstream(procs, LATENCY_MS, keys=1)
        store_url, db_path = await start_store(procs, store, "priority")
        server = await start_server(
            procs, store_url=store_url, upstream=upstream, keys=1, rate=RATE, uvloop=uvloop,
            db_path=db_path,
        )  # fmt: skip
        tag = time.time_ns()
        async with aiohttp.ClientSession() as http:
            big = [f"pr-big-{tag}-{i}" for i in range(1000)]
            big_id = await post(http, server, {"keywords": big, "categories": CATEGORIES})
            await asyncio.sleep(2.0)  # the big job is under way, its calls queued
            small = [f"pr-{priority}-{tag}-{i}" for i in range(2)]
            body = {"keywords": small, "categories": CATEGORIES, "priority": priority}
            small_id = await post(http, server, body)
            job = await wait_done(http, server, small_id, timeout_s=60.0, every_s=0.05)
            async with http.delete(f"{server.base}/api/documents/jobs/{big_id}"):
                pass
        makespan_s = (job["completedAt"] - job["createdAt"]) / 1000
        share = WEIGHTS[priority] / (WEIGHTS[priority] + WEIGHTS["normal"])
        bound_s = len(small) * len(CATEGORIES) / (RATE * share)
        ratio = makespan_s / bound_s
        section.add(
            Row(
                f"2 kw × 4 cat, {priority}, beside a 1,000 kw normal job, R={RATE:g}/s, {store}",
                "makespan",
                makespan_s,
                "s",
                goal=f"share {share:.2f} of R: bound {bound_s:.2f} s, goal ≤ {GOAL}× bound",
                met=ratio <= GOAL and job["status"] == "completed",
                better="lower",
                note=f"{ratio:.3f}× bound; status {job['status']}",
            )
        )


async def run(section: Section, *, quick: bool, uvloop: bool) -> None:
    stores = ["sqlite"] + (["redis"] if redis_store_available() else [])
    for store in stores:
        for priority in ("high", "low"):
            await one_case(section, store=store, priority=priority, uvloop=uvloop)
    section.notes.append(
        "Before weights (first come, first served at the limiter) the small job's calls queued "
        "behind the big job's keywords in flight whatever its priority."
    )
