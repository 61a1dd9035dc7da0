"""Polling and submitting: ``GET /api/documents/status`` and ``POST /api/documents/batch``.

Load: wrk (Debian's ``wrk``), one thread, closed loop over 64 keep-alive connections, so the
load generator takes as little of the 2 cores as possible. Status: the status of a finished
100-keyword job (the seed's polling target, ~17 KB of JSON). Submit: 10 keywords per job, on a
web node with no worker (``--no-worker``) so that only the submit path is measured, and the
per-client queue cap raised (every request comes from one address).

A finished job's JSON is served from the server's memory (it no longer changes); the rows
"job in progress" poll a 200-keyword job (one category, upstream paced at 10/s) from its
80th result on, so that it is still running at the end of the hold: every poll reads the
store, and the response grows from ~80 to ~180 results (the finished job's has 100).

Also here: what uvloop and orjson give on the status path (the same run with the standard
loop; the same response encoded with the standard json module).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

from .common import Procs, Row, Section, patience
from .stack import (
    Server,
    get_job,
    redis_store_available,
    start_server,
    start_store,
    start_upstream,
    submit,
    wait_done,
)

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(out: str) -> dict[str, float]:
    got: dict[str, float] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        got["rps"] = float(m.group(1))
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            got[f"p{q}"] = float(m.group(1)) * UNITS[m.group(2)]
    m = re.search(r"(\d+) requests in", out)
    got["requests"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    got["errors"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors:.*", out)
    got["socket_errors"] = 1.0 if m else 0.0
    return got


async def wrk(
    section: Section, url: str, seconds: int, conns: int = 64, script: str | None = None
) -> dict[str, float]:
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        argv += ["-s", script]
    argv.append(url)
    line = " ".join(argv)
    line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)
    if line not in section.commands:
        section.commands.append(line)
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), seconds + 30)
    return parse_wrk(out.decode())


POST_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"keywords": ["k0","k1","k2","k3","k4","k5","k6","k7","k8","k9"]}'
"""


async def finished_job(server: Server, n: int) -> str:
    async with aiohttp.ClientSession() as http:
        job_id = await submit(http, server, [f"poll-{i}-{time.time_ns()}" for i in range(n)])
        await wait_done(http, server, job_id, timeout_s=120)
    return job_id


def encode_gain(job: dict[str, object]) -> tuple[float, float]:
    """µs to encode the status response with json and with orjson (what the server uses)."""
    body = {"success": True, "job": job}
    rounds = 300
    t0 = time.perf_counter()
    for _ in range(rounds):
        json.dumps(body, ensure_ascii=False).encode()
    t1 = time.perf_counter()
    for _ in range(rounds):
        orjson.dumps(body)
    t2 = time.perf_counter()
    return (t1 - t0) / rounds * 1e6, (t2 - t1) / rounds * 1e6


async def status_case(
    section: Section, store: str, uvloop: bool, seconds: int, goal: bool
) -> float | None:
    with Procs(section) as procs:
        upstream = await start_upstream(procs, latency_ms=0, keys=1, name="upstream-poll")
        store_url, _ = await start_store(procs, store, "poll")
        server = await start_server(
            procs,
            store_url=store_url,
            upstream=upstream,
            rate=1000,
            keyword_concurrency=64,
            uvloop=uvloop,
            name="server-poll",
        )
        job_id = await finished_job(server, 100)
        async with aiohttp.ClientSession() as http:
            job = await get_job(http, server, job_id)
        size = len(orjson.dumps({"success": True, "job": job}))
        url = f"{server.base}/api/documents/status?jobId={job_id}"
        got = await wrk(section, url, seconds)
    loop = "uvloop" if uvloop else "asyncio loop"
    case = f"GET status, finished 100-kw job ({size / 1024:.0f} KiB), 64 conns, {store}, {loop}"
    rps = got.get("rps")
    bad = got["errors"]
    section.add(
        Row(
            case,
            "requests/s",
            rps,
            "/s",
            goal="≥ 5,000/s" if goal else "",
            met=(rps is not None and rps >= 5000 and bad == 0) if goal else None,
            note=f"{got['requests']:.0f} requests, {bad:.0f} non-2xx",
        )
    )
    p99 = got.get("p99")
    section.add(
        Row(
            case,
            "latency p99",
            p99,
            "ms",
            goal="< 20 ms" if goal else "",
            met=(p99 is not None and p99 < 20) if goal else None,
            better="lower",
            note=f"p50 {got.get('p50', 0):.2f} ms",
        )
    )
    if goal and store == "sqlite":
        j, o = encode_gain(job)
        section.add(
            Row(
                "status response encoding (same job)",
                "orjson time per response",
                o,
                "µs",
                note=f"json module {j:.0f} µs: orjson is {j / o:.1f}× faster "
                f"({(j - o) / 1e6 * (rps or 0) * 100:.0f}% of a core at the measured rate)",
            )
        )
    return rps


async def in_progress_case(section: Section, store: str, uvloop: bool, seconds: int) -> None:
    """Polls that miss the finished-job cache: the job is running (results still arriving)."""
    with Procs(section) as procs:
        upstream = await start_upstream(procs, latency_ms=0, keys=1, name="upstream-inprogress")
        store_url, _ = await start_store(procs, store, "inprog")
        server = await start_server(
            procs,
            store_url=store_url,
            upstream=upstream,
            rate=10,
            uvloop=uvloop,
            name="server-inprogress",
        )
        async with aiohttp.ClientSession() as http:
            keywords = [f"busy-{i}-{time.time_ns()}" for i in range(200)]
            job_id = await submit(http, server, keywords, ["blog"])
            deadline = time.monotonic() + 60 * patience()
            while (before := await get_job(http, server, job_id))["progress"]["current"] < 80:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"job {job_id} too slow: {before['progress']}")
                await asyncio.sleep(0.5)
            url = f"{server.base}/api/documents/status?jobId={job_id}"
            got = await wrk(section, url, seconds)
            after = await get_job(http, server, job_id)
    rps = got.get("rps")
    progress = f"results {before['progress']['current']} → {after['progress']['current']}"
    section.add(
        Row(
            f"GET status, 200-kw job in progress (store read per poll), 64 conns, {store}",
            "requests/s",
            rps,
            "/s",
            note=f"p99 {got.get('p99', 0):.1f} ms, p50 {got.get('p50', 0):.2f} ms; "
            f"{progress} ({after['status']}); {got['errors']:.0f} non-2xx",
        )
    )


async def submit_case(section: Section, store: str, uvloop: bool, seconds: int) -> None:
    with Procs(section) as procs:
        store_url, _ = await start_store(procs, store, "submit")
        server = await start_server(
            procs,
            store_url=store_url,
            upstream=None,
            uvloop=uvloop,
            worker=False,
            extra=["--max-queued-jobs-per-client", "100000000"],
            name="server-submit",
        )
        script = Path(tempfile.mkdtemp(prefix="doccount-wrk-")) / "post.lua"
        script.write_text(POST_LUA)
        got = await wrk(section, f"{server.base}/api/documents/batch", seconds, script=str(script))
    rps = got.get("rps")
    bad = got["errors"]
    section.add(
        Row(
            f"POST batch of 10 keywords, 64 conns, no worker, {store}",
            "jobs/s",
            rps,
            "/s",
            goal="≥ 1,000/s",
            met=rps is not None and rps >= 1000 and bad == 0,
            note=f"p99 {got.get('p99', 0):.1f} ms; {got['requests']:.0f} jobs, {bad:.0f} non-2xx",
        )
    )


async def run(section: Section, *, quick: bool, uvloop: bool) -> None:
    if shutil.which("wrk") is None:
        section.notes.append("wrk is not installed (apt-get install wrk): skipped.")
        return
    seconds = 1 if quick else 10
    stores = ["sqlite"] + (["redis"] if redis_store_available() else [])
    if "redis" not in stores:
        section.notes.append("Redis store not merged yet: redis rows omitted.")
    for store in stores:
        await status_case(section, store, uvloop, seconds, goal=True)
    for store in stores:
        await in_progress_case(section, store, uvloop, seconds)
    # What the loop gives: the same status load on the other event loop.
    await status_case(section, "sqlite", not uvloop, seconds, goal=False)
    for store in stores:
        await submit_case(section, store, uvloop, seconds)
