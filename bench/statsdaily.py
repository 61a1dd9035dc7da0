"""The day counters of /api/stats (issue 14): what they add to each committed result, and
that reading them does not grow with the jobs and results kept.

    python -m bench.statsdaily                  # both stores, 2,000 results per pass
    python -m bench.statsdaily --results 500 --stores sqlite

Each pass commits ``--results`` results (4 categories, one cached, one in ten with a failed
category) through the store's own ``record_result``, in jobs of 100, with the counters on and
off (the engine's hook replaced by a no-op), alternating on/off/on/off; it reports this
process's CPU per result (SQLite: the writer thread included) and, on Redis, redis-server's
CPU per result (INFO cpu). Then ``daily_stats`` (what /api/stats reads) is timed 300 times
after the passes and again after ten times as many results: p50/p99 and the rows it read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from server.api.daily import daily_stats
from server.model import JobSpec, new_job_id, now_ms
from server.settings import Settings
from server.store import Store, store_from_url
from tests.support.redis_server import start_on_a_free_port

JOB_SIZE = 100
READS = 300


def result(i: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": i % JOB_SIZE,
        "keyword": f"키워드 {i}",
        "counts": {"blog": 1200 + i, "cafe": 300, "news": 45},
        "source": "naver",
        "cached": ["blog"],
        "error": None,
    }
    if i % 10 == 0:
        out["errors"] = {"web": "네이버 API 일시 오류"}
        out["errorCodes"] = {"web": "upstream_unavailable"}
        out["error"] = "웹문서: 네이버 API 일시 오류"
    else:
        out["counts"]["web"] = 7
    return out


async def commit(store: Store, n: int) -> None:
    for start in range(0, n, JOB_SIZE):
        created = now_ms()
        spec = JobSpec(
            id=new_job_id(created),
            keywords=tuple(f"k{i}" for i in range(JOB_SIZE)),
            categories=("blog", "cafe", "news", "web"),
            priority=1,
            created_ms=created,
            source="api",
            client="bench",
        )
        await store.create_job(spec)
        claimed = await store.claim_next("w", 0)
        assert claimed is not None
        for i in range(start, min(n, start + JOB_SIZE)):
            await store.record_result(claimed.id, i % JOB_SIZE, result(i), "w")
        await store.finish(claimed.id, "completed", None, "w")


def counters_off(store: Any, kind: str) -> dict[str, Any]:
    """Replace the engine's hooks with no-ops; returns what to put back."""
    stats = store.stats
    if kind == "sqlite":
        saved = {"recorded": stats.recorded, "created": stats.created}
        stats.recorded = lambda db, r: None
        stats.created = lambda db: None
    else:
        saved = {"recorded_args": stats.recorded_args, "created_args": stats.created_args}
        stats.recorded_args = lambda r: []
        stats.created_args = lambda: []
    return saved


async def redis_cpu_s(store: Any) -> float:
    info = await store._r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def pass_cpu(store: Any, kind: str, n: int, on: bool) -> tuple[float, float]:
    saved = {} if on else counters_off(store, kind)
    try:
        server0 = await redis_cpu_s(store) if kind == "redis" else 0.0
        cpu0 = time.process_time()
        await commit(store, n)
        cpu = time.process_time() - cpu0
        server = (await redis_cpu_s(store) - server0) if kind == "redis" else 0.0
    finally:
        for name, fn in saved.items():
            setattr(store.stats, name, fn)
    return cpu / n * 1e6, server / n * 1e6


async def reads(store: Store) -> dict[str, float]:
    times = []
    for _ in range(READS):
        t = time.perf_counter()
        await daily_stats(store, Settings())
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    today = store.stats.today()
    rows = len(await store.stats.rows(today - 29, today))
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": times[int(len(times) * 0.99) - 1],
        "rows": rows,
    }


async def run(kind: str, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="doccount-bench-stats-") as tmp:
        server = None
        if kind == "sqlite":
            url = f"sqlite:///{tmp}/stats.db"
        else:
            server = start_on_a_free_port(Path(tmp))
            url = server.url
        store = store_from_url(url, Settings(store_url=url))
        await store.open()
        try:
            cpu: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
            for on in (True, False, True, False):
                cpu[on].append(await pass_cpu(store, kind, n, on))
            small = await reads(store)
            await commit(store, 10 * n)
            big = await reads(store)
        finally:
            await store.close()
            if server is not None:
                server.kill()

    def mean(on: bool, i: int) -> float:
        return statistics.mean(x[i] for x in cpu[on])

    return {
        "store": kind,
        "on_us": mean(True, 0),
        "off_us": mean(False, 0),
        "server_on_us": mean(True, 1),
        "server_off_us": mean(False, 1),
        "small": small,
        "big": big,
        "results_small": 4 * n,
        "results_big": 14 * n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statsdaily", description=__doc__)
    parser.add_argument("--results", type=int, default=2000)
    parser.add_argument("--stores", default="sqlite,redis")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    for kind in args.stores.split(","):
        r = asyncio.run(run(kind, args.results))
        server = (
            f"; redis-server CPU {r['server_on_us']:.1f} vs {r['server_off_us']:.1f} µs"
            if kind == "redis"
            else ""
        )
        s, b = r["small"], r["big"]
        print(
            f"{kind}: CPU per committed result with counters {r['on_us']:.1f} µs, without "
            f"{r['off_us']:.1f} µs{server}; daily_stats after {r['results_small']:,} results "
            f"p50 {s['p50_ms']:.2f} ms p99 {s['p99_ms']:.2f} ms ({s['rows']} rows), after "
            f"{r['results_big']:,} p50 {b['p50_ms']:.2f} ms p99 {b['p99_ms']:.2f} ms "
            f"({b['rows']} rows)",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
