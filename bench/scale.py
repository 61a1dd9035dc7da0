"""The stores at 10,000 and 100,000 jobs: what grows with the number of jobs kept.

Fill: N finished jobs of 10 keywords × 4 categories, through the store's own code (SQLite: the
transaction bodies of create, claim, record and finish, 500 jobs per transaction, so triggers,
counters and event logs are exactly what the server writes; Redis: its Lua scripts, pipelined),
plus one 1,000-keyword job left processing with 1,000 results (the big poll target) and one
running job for the worker's writes. Then, at each size:

- ``GET /api/stats``, ``GET /api/documents/jobs`` (the job list, 50 newest) and ``GET /metrics``:
  wrk, one thread, 32 keep-alive connections, against a server on the filled store, no worker.
- ``GET /api/documents/status`` of the 1,000-result job (still processing: a job in progress):
  the seed's poll (every result) and the incremental poll (``since`` = its ``lastEventId``:
  nothing new): bytes per answer, requests/s, server CPU per request.
- start-up: ``Store.open()`` on the filled store, in this process (median of 5); and the whole
  server process, from its start until ``/api/config`` answers (median of 3 starts).
- TTL cleanup of every finished job, in this process, while three loops run beside it on the same
  event loop, as in the server: a status poll of the big job (full and ``since`` in turn), a
  submission (``create_job``), a worker write (``record_result``). Longest wait of each, the
  cleanup's duration, and (SQLite) the WAL file's size after.

Growth = figure at 100,000 ÷ figure at 10,000; the goal for what should not grow is ≤ 1.5×.
Both sizes are filled first and every HTTP figure is taken on the two servers in turn, twice
(the better of the two kept), so that the shared machine's load falls on both alike.
``BENCH_STORES=sqlite`` (or ``redis``) runs one store only; ``BENCH_SIZES=300,600`` other sizes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from server.codec import dumps
from server.model import COMPLETED, JobSpec, new_job_id, now_ms
from server.settings import Settings
from server.store import Store, store_from_url
from server.store.base import IDEMPOTENCY_WINDOW_MS
from server.store.sqlite import SqliteStore

from .common import Procs, Row, Section, cpu_s, fmt
from .polling import wrk
from .stack import Server, redis_store_available, sqlite_url, start_redis, start_server

SIZES = (10_000, 100_000)
QUICK_SIZES = (300, 3_000)
CATEGORIES = ("blog", "cafe", "news", "web")
KEYWORDS_PER_JOB = 10
BIG_JOB_KEYWORDS = 1_000
FILL_CHUNK = 500
CONNS = 32
GROWTH_GOAL = 1.5
STALL_GOAL_MS = 100.0


def spec_of(n_keywords: int, tag: str) -> JobSpec:
    created = now_ms()
    return JobSpec(
        id=new_job_id(created),
        keywords=tuple(f"{tag}-{i}" for i in range(n_keywords)),
        categories=CATEGORIES,
        priority=1,
        created_ms=created,
        source="demo",
        client="127.0.0.1",
    )


def result_of(index: int, keyword: str) -> dict[str, Any]:
    return {
        "index": index,
        "keyword": keyword,
        "counts": {c: 1000 + index for c in CATEGORIES},
        "source": "demo",
        "cached": [],
        "error": None,
    }


# --- fill ---------------------------------------------------------------------------------


def _sqlite_chunk(store: SqliteStore, specs: list[JobSpec], finish: bool) -> None:
    """On the writer thread, in one transaction: each job created, claimed, its results
    recorded and (``finish``) completed, by the store's own transaction bodies."""

    def body(db: Any) -> None:
        for spec in specs:
            store._create(db, spec)
            claimed, _ = store._claim(db, "bench")
            assert claimed is not None and claimed.id == spec.id, "claim took another job"
            for i, keyword in enumerate(spec.keywords):
                store._record(db, spec.id, i, result_of(i, keyword))
            if finish:
                store._finish(db, spec.id, COMPLETED, None)

    store._transaction(body)


async def fill_sqlite(store: SqliteStore, n: int) -> None:
    for start in range(0, n, FILL_CHUNK):
        specs = [spec_of(KEYWORDS_PER_JOB, f"f{start + i}") for i in range(FILL_CHUNK)]
        await store._run(_sqlite_chunk, store, specs[: n - start], True)


async def fill_redis(store: Any, n: int) -> None:
    from server.store.redis import GROUP

    scripts = store._scripts
    for start in range(0, n, FILL_CHUNK):
        async with store._r.pipeline(transaction=False) as pipe:
            for i in range(min(FILL_CHUNK, n - start)):
                spec = spec_of(KEYWORDS_PER_JOB, f"f{start + i}")
                await scripts["create"](args=create_args(spec), client=pipe)
                await scripts["claim"](args=[GROUP, "bench", store.lease_ms, now_ms()], client=pipe)
                for k, keyword in enumerate(spec.keywords):
                    result = dumps(result_of(k, keyword))
                    await scripts["record"](args=[spec.id, k, result], client=pipe)
                await scripts["finish"](
                    args=[spec.id, COMPLETED, "null", now_ms(), store.ttl_ms, GROUP, "bench"],
                    client=pipe,
                )
            await pipe.execute()


def create_args(spec: JobSpec) -> list[Any]:
    """The create script's arguments, as ``RedisStore.create_job`` passes them."""
    return [
        spec.id,
        dumps(spec.id),
        spec.priority,
        dumps(list(spec.keywords)),
        dumps(list(spec.categories)),
        len(spec.keywords),
        spec.created_ms,
        dumps(spec.source),
        spec.client,
        "",  # no queue bound
        "",  # no idempotency key
        IDEMPOTENCY_WINDOW_MS,
        dumps(spec.name),
    ]


async def running_job(store: Store, n_keywords: int, results: int, tag: str) -> str:
    """A processing job with ``results`` results, through the store's API."""
    spec = spec_of(n_keywords, tag)
    await store.create_job(spec)
    claimed = await store.claim_next("bench-live", 0)
    assert claimed is not None and claimed.id == spec.id, "claim took another job"
    for i in range(results):
        await store.record_result(spec.id, i, result_of(i, spec.keywords[i]), "bench-live")
    return spec.id


@dataclass
class Filled:
    url: str
    path: Path | None
    big_job: str
    big_last_id: str
    worker_job: str
    fill_s: float


async def fill(store_kind: str, n: int, procs: Procs) -> Filled:
    if store_kind == "redis":
        url, path = await start_redis(procs), None
    else:
        url, path_ = sqlite_url(f"scale{n}")
        path = path_
    store = store_from_url(url, Settings(store_url=url))
    await store.open()
    started = time.monotonic()
    try:
        if isinstance(store, SqliteStore):
            await fill_sqlite(store, n)
        else:
            await fill_redis(store, n)
        fill_s = time.monotonic() - started
        big = await running_job(store, BIG_JOB_KEYWORDS, BIG_JOB_KEYWORDS, "big")
        big_last_id = (await store.get_job(big, with_results=False) or {})["lastEventId"]
        worker = await running_job(store, 100_000, 0, "live")
        stats = await store.job_stats()
        assert stats["byStatus"]["completed"] == n, stats
    finally:
        await store.close()
    return Filled(url, path, big, big_last_id, worker, fill_s)


# --- measurements -------------------------------------------------------------------------


@dataclass
class Figures:
    """Everything measured at one size on one store."""

    n: int
    fill_s: float = 0.0
    http: dict[str, dict[str, float]] = field(default_factory=dict)
    poll_bytes: dict[str, int] = field(default_factory=dict)
    open_ms: float = 0.0
    serve_ms: float = 0.0
    cleanup_s: float = 0.0
    removed: int = 0
    waits_ms: dict[str, float] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=dict)
    wal_bytes: int | None = None
    # SQLite: the writer thread's CPU time for the longest cleanup transaction; Redis: the
    # longest command Redis ran meanwhile (SLOWLOG). The most a write can wait behind the
    # cleanup when the machine is not starved for CPU.
    longest_batch_ms: float = 0.0
    batches: int = 0


async def start_http(procs: Procs, filled: Filled, uvloop: bool) -> Server:
    return await start_server(
        procs, store_url=filled.url, upstream=None, worker=False, uvloop=uvloop, name="server-scale"
    )


def target_url(server: Server, filled: Filled, name: str) -> str:
    status = f"{server.base}/api/documents/status?jobId={filled.big_job}"
    return {
        "stats": f"{server.base}/api/stats",
        "metrics": f"{server.base}/metrics",
        "poll": status,
        "poll_since": f"{status}&since={filled.big_last_id}",
        "jobs": f"{server.base}/api/documents/jobs",
    }[name]


async def poll_bytes(server: Server, filled: Filled) -> dict[str, int]:
    sizes = {}
    async with aiohttp.ClientSession() as http:
        for name, kind in (("poll", "full"), ("poll_since", "since")):
            async with http.get(target_url(server, filled, name)) as resp:
                assert resp.status == 200, await resp.text()
                sizes[kind] = len(await resp.read())
    return sizes


async def open_figure(filled: Filled, figures: Figures) -> None:
    times = []
    for _ in range(5):
        store = store_from_url(filled.url, Settings(store_url=filled.url))
        started = time.perf_counter()
        await store.open()
        times.append((time.perf_counter() - started) * 1000)
        await store.close()
    figures.open_ms = statistics.median(times)


async def cleanup_figures(filled: Filled, figures: Figures) -> None:
    settings = replace(Settings(store_url=filled.url), job_ttl_s=60.0)
    store = store_from_url(filled.url, settings)
    await store.open()
    last = filled.big_last_id
    waits: dict[str, list[float]] = {"poll": [], "submit": [], "worker write": []}
    done = asyncio.Event()

    async def probe(name: str, op: Any) -> None:
        i = 0
        while not done.is_set():
            started = time.perf_counter()
            await op(i)
            waits[name].append((time.perf_counter() - started) * 1000)
            i += 1

    async def poll(i: int) -> None:
        if i % 2:
            got = await store.get_job_json_since(filled.big_job, last)
            assert got is not None
        else:
            assert await store.get_job_json(filled.big_job) is not None

    async def submit(i: int) -> None:
        await store.create_job(spec_of(KEYWORDS_PER_JOB, f"s{i}"))

    async def write(i: int) -> None:
        await store.record_result(filled.worker_job, i, result_of(i, f"w{i}"), "bench-live")

    probes = [
        asyncio.create_task(probe(name, op))
        for name, op in (("poll", poll), ("submit", submit), ("worker write", write))
    ]
    await asyncio.sleep(0.2)  # the probes are running before the cleanup starts
    for w in waits.values():
        w.clear()
    batch_cpu_ms: list[float] = []
    if isinstance(store, SqliteStore):
        batch = store._cleanup_jobs

        def timed_batch(cutoff: int, limit: int) -> tuple[list[str], float]:
            cpu = time.thread_time()
            out = batch(cutoff, limit)
            batch_cpu_ms.append((time.thread_time() - cpu) * 1000)
            return out

        store._cleanup_jobs = timed_batch  # type: ignore[method-assign]
    else:
        # Redis times every script it runs: the longest is the longest anyone waited on it.
        redis: Any = getattr(store, "_r")  # noqa: B009 (engine internals, benchmark only)
        await redis.config_set("slowlog-log-slower-than", 1000)
        await redis.config_set("slowlog-max-len", 100_000)
        await redis.slowlog_reset()
    started = time.perf_counter()
    figures.removed = await store.cleanup(now_ms() + 120_000)
    figures.cleanup_s = time.perf_counter() - started
    if isinstance(store, SqliteStore):
        figures.longest_batch_ms = max(batch_cpu_ms, default=0.0)
        figures.batches = len(batch_cpu_ms)
    else:
        slow = await redis.slowlog_get(100_000)
        figures.longest_batch_ms = max((e["duration"] / 1000 for e in slow), default=0.0)
        figures.batches = figures.removed // 200 + 1
    done.set()
    await asyncio.gather(*probes)
    figures.waits_ms = {name: max(w) if w else 0.0 for name, w in waits.items()}
    figures.ops = {name: len(w) for name, w in waits.items()}
    await store.close()
    if filled.path is not None:
        wal = Path(f"{filled.path}-wal")
        figures.wal_bytes = wal.stat().st_size if wal.exists() else 0


async def measure_pair(
    section: Section,
    store_kind: str,
    sizes: tuple[int, int],
    seconds: int,
    uvloop: bool,
    rounds: int = 2,
) -> tuple[Figures, Figures]:
    """Both sizes filled first, then every HTTP figure taken on the two servers in turn
    (small, big, small, big; the better of each pair kept), so that a change in the shared
    machine's load falls on both sizes alike."""
    pair = (Figures(sizes[0]), Figures(sizes[1]))
    with Procs(section) as procs:
        filled = []
        for fig in pair:
            f = await fill(store_kind, fig.n, procs)
            fig.fill_s = f.fill_s
            filled.append(f)
            print(f"  filled {fig.n:,} jobs on {store_kind} in {f.fill_s:.1f} s", flush=True)
        # The whole server's start (interpreter, imports, store open, until it answers), three
        # times each in turn, the median kept: one start on a shared machine is mostly noise.
        starts: list[list[float]] = [[], []]
        servers: list[Server] = []
        for attempt in range(3):
            for i, f in enumerate(filled):
                started = time.perf_counter()
                server = await start_http(procs, f, uvloop)
                starts[i].append((time.perf_counter() - started) * 1000)
                if attempt < 2:
                    procs.stop(server.proc)
                else:
                    servers.append(server)
        for fig, times in zip(pair, starts, strict=True):
            fig.serve_ms = statistics.median(times)
        for fig, f, server in zip(pair, filled, servers, strict=True):
            fig.poll_bytes = await poll_bytes(server, f)
        for name in ("stats", "jobs", "metrics", "poll", "poll_since"):
            for _ in range(rounds):
                for fig, f, server in zip(pair, filled, servers, strict=True):
                    cpu_before = cpu_s(server.proc.pid)
                    got = await wrk(section, target_url(server, f, name), seconds, conns=CONNS)
                    # CPU per request: what the request costs the server, which a busy
                    # machine's scheduling does not inflate the way it does latency.
                    served = max(1.0, got["requests"])
                    got["cpu_us"] = (cpu_s(server.proc.pid) - cpu_before) / served * 1e6
                    fig.http[name] = best(fig.http.get(name), got)
        for server in servers:
            procs.stop(server.proc)
        for fig, f in zip(pair, filled, strict=True):
            await open_figure(f, fig)
        for fig, f in zip(pair, filled, strict=True):
            await cleanup_figures(f, fig)
            if f.path is not None:
                shutil.rmtree(f.path.parent, ignore_errors=True)
    return pair


def best(old: dict[str, float] | None, new: dict[str, float]) -> dict[str, float]:
    if old is None:
        return new
    return {
        **new,
        "rps": max(old.get("rps", 0.0), new.get("rps", 0.0)),
        "p99": min(old.get("p99", float("inf")), new.get("p99", float("inf"))),
        "cpu_us": min(old.get("cpu_us", float("inf")), new.get("cpu_us", float("inf"))),
        "errors": old["errors"] + new["errors"],
    }


# --- rows ---------------------------------------------------------------------------------


def growth(small: float | None, big: float | None) -> float | None:
    if small is None or big is None or small == 0:
        return None
    return big / small


def growth_row(
    section: Section,
    case: str,
    metric: str,
    unit: str,
    small: Figures,
    big: Figures,
    small_v: float | None,
    big_v: float | None,
    better: str,
    note: str = "",
) -> None:
    ratio = growth(small_v, big_v)
    if ratio is not None and better == "higher":
        ratio = 1 / ratio  # growth of the cost: fewer requests/s is the cost growing
    section.add(
        Row(
            case,
            f"{metric} at {big.n:,} jobs",
            big_v,
            unit,
            goal=f"growth ≤ {GROWTH_GOAL}×",
            met=ratio is not None and ratio <= GROWTH_GOAL,
            better=better,
            note=f"{small.n:,} jobs: {fmt(small_v)} {unit}; growth {fmt(ratio)}×"
            + (f"; {note}" if note else ""),
        )
    )


def report(section: Section, store_kind: str, small: Figures, big: Figures) -> None:
    for name, path in (
        ("stats", "/api/stats"),
        ("jobs", "/api/documents/jobs (the 50 newest)"),
        ("metrics", "/metrics"),
    ):
        case = f"GET {path}, {CONNS} conns, {store_kind}"
        s, b = small.http[name], big.http[name]
        growth_row(
            section, case, "latency p99", "ms", small, big, s.get("p99"), b.get("p99"), "lower",
            note=f"req/s {fmt(s.get('rps'))} → {fmt(b.get('rps'))}; "
            f"non-2xx {s['errors']:.0f}/{b['errors']:.0f}",
        )  # fmt: skip
        growth_row(
            section, case, "server CPU per request", "µs", small, big, s.get("cpu_us"),
            b.get("cpu_us"), "lower",
        )  # fmt: skip
    for name, label in (("poll", "full (the seed's poll)"), ("poll_since", "since, nothing new")):
        case = (
            f"GET status of a {BIG_JOB_KEYWORDS:,}-keyword job in progress ({BIG_JOB_KEYWORDS:,} "
            f"results), {label}, {CONNS} conns, {store_kind}"
        )
        s, b = small.http[name], big.http[name]
        kind = "full" if name == "poll" else "since"
        growth_row(
            section, case, "requests/s", "/s", small, big, s.get("rps"), b.get("rps"), "higher",
            note=f"{big.poll_bytes[kind]:,} bytes per answer; p99 {fmt(b.get('p99'))} ms; "
            f"non-2xx {b['errors']:.0f}",
        )  # fmt: skip
        growth_row(
            section, case, "server CPU per request", "µs", small, big, s.get("cpu_us"),
            b.get("cpu_us"), "lower",
        )  # fmt: skip
    section.add(
        Row(
            f"GET status of a {BIG_JOB_KEYWORDS:,}-result job, bytes per poll, {store_kind}",
            "since (nothing new) vs full",
            big.poll_bytes["since"],
            "bytes",
            better="lower",
            note=f"full poll {big.poll_bytes['full']:,} bytes "
            f"({big.poll_bytes['full'] / max(1, big.poll_bytes['since']):.0f}× more)",
        )
    )
    growth_row(
        section, f"start-up: Store.open(), {store_kind}", "median of 5", "ms", small, big,
        small.open_ms, big.open_ms, "lower",
    )  # fmt: skip
    growth_row(
        section, f"start-up: `doccount serve` until /api/config answers, {store_kind}", "wall",
        "ms", small, big, small.serve_ms, big.serve_ms, "lower",
        note="median of 3 starts each, on a shared machine (imports dominate)",
    )  # fmt: skip
    wal = ""
    if big.wal_bytes is not None:
        wal = f"; WAL after: {small.wal_bytes:,} / {big.wal_bytes:,} bytes"
    for fig in (small, big):
        worst = max(fig.waits_ms.values()) if fig.waits_ms else None
        section.add(
            Row(
                f"TTL cleanup of {fig.removed:,} jobs, {store_kind}",
                "longest wait of a poll / submit / worker write meanwhile",
                worst,
                "ms",
                goal=f"≤ {STALL_GOAL_MS:.0f} ms",
                met=worst is not None and worst <= STALL_GOAL_MS,
                better="lower",
                note=f"cleanup {fig.cleanup_s:.2f} s; "
                + ", ".join(
                    f"{k} {fmt(v)} ms ({fig.ops[k]:,} done)" for k, v in fig.waits_ms.items()
                )
                + (wal if fig is big else "")
                + f"; fill {fig.fill_s:.0f} s",
            )
        )
        what = (
            "writer-thread CPU of the longest cleanup transaction"
            if store_kind == "sqlite"
            else "longest command Redis ran meanwhile (SLOWLOG)"
        )
        section.add(
            Row(
                f"TTL cleanup of {fig.removed:,} jobs, {store_kind}",
                what,
                fig.longest_batch_ms,
                "ms",
                goal=f"≤ {STALL_GOAL_MS:.0f} ms",
                met=fig.longest_batch_ms <= STALL_GOAL_MS,
                better="lower",
                note=f"{fig.batches:,} batches: the most any write waits behind the cleanup "
                "when the machine has a core free",
            )
        )


async def run(section: Section, *, quick: bool, uvloop: bool) -> None:
    if shutil.which("wrk") is None:
        section.notes.append("wrk is not installed (apt-get install wrk): skipped.")
        return
    seconds = 1 if quick else 10
    sizes = QUICK_SIZES if quick else SIZES
    if "BENCH_SIZES" in os.environ:  # e.g. BENCH_SIZES=300,600: a trial of the benchmark itself
        small, big = (int(n) for n in os.environ["BENCH_SIZES"].split(","))
        sizes = (small, big)
    stores = ["sqlite"] + (["redis"] if redis_store_available() else [])
    stores = os.environ.get("BENCH_STORES", ",".join(stores)).split(",")
    for store_kind in stores:
        small, big = await measure_pair(
            section, store_kind, sizes, seconds, uvloop, rounds=1 if quick else 2
        )
        report(section, store_kind, small, big)
    section.notes.append(
        "Fill: finished 10-keyword × 4-category jobs through the store's own transaction "
        "bodies (SQLite) or Lua scripts (Redis), in bulk; the cleanup runs in the benchmark's "
        f"process with its probes on the same event loop (load average {os.getloadavg()[0]:.1f} "
        "at the end)."
    )
