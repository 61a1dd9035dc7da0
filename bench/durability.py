"""SQLite durability: ``--sqlite-synchronous full`` (every commit fsynced: an acknowledged job
survives a power cut) against ``normal`` (WAL commits reach the disk at checkpoints; a power cut
may lose the last ones), on the real disk, not tmpfs (fsync must cost what it costs).

Two figures per mode, the modes interleaved so that both see the same machine:

- submitting: ``POST /api/documents/batch`` of 10 keywords, wrk over 64 keep-alive connections,
  no worker (as in ``bench polling``). Group commit writes every submission waiting at the same
  moment in one transaction, so one fsync covers a batch;
- a job's commits: a 1,000-keyword job, one category, demo provider at an unbounded rate and 64
  keywords in flight and no search volumes (``--volume-provider off``: the demo volumes come at
  the Search Ad rate, 10 keywords/s, and would be the bound instead), so that the worker's
  result commits (one transaction each, in order) are the bound: submit to completed.

The default is the mode whose figures say so (RESULTS.md quotes the run).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import aiohttp

from .common import Procs, Row, Section
from .polling import POST_LUA, wrk
from .stack import sqlite_url, start_server, submit, wait_done

MODES = ("normal", "full")
JOB_KEYWORDS = 1000


async def submit_case(section: Section, mode: str, uvloop: bool, seconds: int) -> float | None:
    with Procs(section) as procs:
        store_url, path = sqlite_url(f"dur-submit-{mode}")
        server = await start_server(
            procs,
            store_url=store_url,
            upstream=None,
            uvloop=uvloop,
            worker=False,
            extra=["--max-queued-jobs-per-client", "100000000", "--sqlite-synchronous", mode],
            name=f"server-submit-{mode}",
            db_path=path,
        )
        script = Path(tempfile.mkdtemp(prefix="doccount-wrk-")) / "post.lua"
        script.write_text(POST_LUA)
        got = await wrk(section, f"{server.base}/api/documents/batch", seconds, script=str(script))
    rps = got.get("rps")
    section.add(
        Row(
            f"POST batch of 10 keywords, 64 conns, synchronous={mode}",
            "jobs/s",
            rps,
            "/s",
            note=f"p99 {got.get('p99', 0):.1f} ms; {got['errors']:.0f} non-2xx",
        )
    )
    return rps


async def job_case(
    section: Section, mode: str, uvloop: bool, n: int = JOB_KEYWORDS
) -> float | None:
    with Procs(section) as procs:
        store_url, path = sqlite_url(f"dur-job-{mode}")
        server = await start_server(
            procs,
            store_url=store_url,
            upstream=None,
            uvloop=uvloop,
            rate=1_000_000,
            keyword_concurrency=64,
            extra=["--sqlite-synchronous", mode, "--volume-provider", "off"],
            name=f"server-job-{mode}",
            db_path=path,
        )
        keywords = [f"dur-{mode}-{i}-{time.time_ns()}" for i in range(n)]
        async with aiohttp.ClientSession() as http:
            started = time.monotonic()
            job_id = await submit(http, server, keywords, ["blog"])
            job = await wait_done(http, server, job_id, timeout_s=300, every_s=0.05)
            took_s = time.monotonic() - started
    per_s = n / took_s if job["status"] == "completed" else None
    section.add(
        Row(
            f"{n:,}-keyword job, demo provider, unbounded rate, synchronous={mode}",
            "results committed/s",
            per_s,
            "/s",
            note=f"{took_s:.2f} s submit to completed ({job['status']})",
        )
    )
    return per_s


async def run(section: Section, *, quick: bool, uvloop: bool) -> None:
    if shutil.which("wrk") is None:
        section.notes.append("wrk is not installed (apt-get install wrk): submit rows skipped.")
    seconds = 2 if quick else 10
    rounds = 1 if quick else 2
    submits: dict[str, list[float]] = {m: [] for m in MODES}
    jobs: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(rounds):
        for mode in MODES:
            if shutil.which("wrk") is not None:
                rps = await submit_case(section, mode, uvloop, seconds)
                if rps:
                    submits[mode].append(rps)
            rate = await job_case(section, mode, uvloop, 250 if quick else JOB_KEYWORDS)
            if rate:
                jobs[mode].append(rate)
    for name, figures in (("submit", submits), ("job commits", jobs)):
        if figures["normal"] and figures["full"]:
            normal = sum(figures["normal"]) / len(figures["normal"])
            full = sum(figures["full"]) / len(figures["full"])
            section.notes.append(
                f"{name}: full/normal = {full / normal:.2f} (means of {len(figures['full'])} runs)"
            )
