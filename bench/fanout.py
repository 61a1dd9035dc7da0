"""Fan-out: one job streaming to 1,000 SSE and 1,000 WebSocket subscribers.

Method. The subscribers (raw-protocol clients in load-generator processes) connect while the
job waits in the queue behind a blocker job; cancelling the blocker starts it. The job has one
category, so each keyword is one upstream call and one ``result`` event, and ``--rate`` sets
the event rate: E events/s to S subscribers is E·S deliveries/s offered.

- Deliveries/s: every ``result`` event every subscriber received, over the span from the
  first to the last receipt. Our streams also carry ``progress`` and ``status`` events; the
  peers send results only, so only results are counted on both sides (before this, ours
  counted all events and read as "5,988/s with 5,000/s offered").
- CPU per delivered result: the server process's user + system CPU from the job's release to
  the last receipt, over the results delivered. Ours pays for its extra events too: that cost
  is in the figure, not in the count.
- A case that cannot finish on a loaded machine is not an error: every wait is its quiet bound
  times ``patience()`` (load average per core), and a case that still runs out says how far
  it got in the notes and reports what was delivered.
- Latency: receipt time (client's ``time.time()``) minus the event's commit time. The commit
  time is the event log's own ``created_at`` (ms, written in the transaction that commits the
  event; read back from the SQLite file after the run), or the Redis stream entry's ms. The
  peers stamp the same clock when they create an event. All processes share one clock, so
  no offset; the ms truncation of ``created_at`` overstates latency by < 1 ms.

Peers run the same subscriber counts, payload size and event rate; ours and each peer run
one after the other, not side by side, so neither steals the other's CPU.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.processes import free_port

from .common import PY, Procs, Row, Section, cpu_s, patience, pct, wait_port
from .stack import (
    Server,
    Upstream,
    hub_available,
    redis_store_available,
    start_server,
    start_store,
    start_upstream,
    submit,
)
from .swarm import Seen, Swarm, sources

BLOCKER = "fanout-blocker"
PACE_NOTE = (
    "Like with like: only result events are counted, on both sides. Our deliveries/s is paced "
    "by the job itself (one upstream call and one store commit per result, at --rate); on a "
    "loaded machine the worker falls behind the rate while the peers emit from memory, so the "
    "rows to compare are the share delivered and the server CPU per delivered result (ours "
    "includes the job's own work: upstream calls, commits, progress and status events)."
)


def sse_spec(port: int, path: str, count: int, **kw: Any) -> dict[str, Any]:
    return {
        "kind": "sse",
        "host": "127.0.0.1",
        "port": port,
        "path": path,
        "count": count,
        "headers": {},
        "sources": sources(max(2, count // 50), block=1),
        **kw,
    }


def ws_spec(port: int, path: str, count: int, first: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "kind": "ws",
        "host": "127.0.0.1",
        "port": port,
        "path": path,
        "count": count,
        "first_message": first,
        "sources": sources(max(2, count // 50), block=2),
        **kw,
    }


def summarize(
    seen: Seen, commit_ms: dict[str, int], subscribers: int, events: int
) -> dict[str, float | None]:
    times = sorted(t for _, t in seen.receipts)
    span = (times[-1] - times[0]) if len(times) > 1 else 0.0
    lat = [t * 1000 - commit_ms[i] for i, t in seen.receipts if i in commit_ms]
    return {
        "deliveries": float(len(seen.receipts)),
        "per_s": len(seen.receipts) / span if span > 0 else None,
        "p50": pct(lat, 50),
        "p99": pct(lat, 99),
        "max": max(lat) if lat else None,
        "complete": len(seen.receipts) / (subscribers * events) if events else None,
    }


# --- ours -----------------------------------------------------------------------------------


def sqlite_commit_times(db: Path, job_id: str) -> dict[str, int]:
    """Commit times of the job's ``result`` events only: the peers send results and nothing
    else, so progress and status events (which our streams also carry) are not counted."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT seq, created_at FROM events WHERE job_id = ? AND type = 'result'", (job_id,)
        ).fetchall()
    finally:
        con.close()
    return {str(s): int(c) for s, c in rows}


async def redis_commit_times(store_url: str, job_id: str) -> dict[str, int]:
    """The Redis store stamps each event entry with Redis' own clock (field ``ms``, from TIME
    inside the script that appends it); entry ids are ``<seq>-0``. Results only (field ``t``),
    as for sqlite."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(store_url)
    out: dict[str, int] = {}
    try:
        for entry_id, fields in await client.xrange(f"dc:job:{job_id}:events"):
            seq = entry_id.split(b"-")[0].decode()
            ms = fields.get(b"ms")
            if ms is not None and fields.get(b"t") == b"result":
                out[seq] = int(ms)
    finally:
        await client.aclose()
    return out


async def ours(
    section: Section,
    *,
    store: str,
    n_sse: int,
    n_ws: int,
    events: int,
    rate: float,
    uvloop: bool,
    keep: dict[str, Any] | None = None,
    extra: list[str] | None = None,
) -> tuple[dict[str, float | None], float]:
    """Our server, ``n_sse`` + ``n_ws`` subscribers to one job of ``events`` results at
    ``rate``/s. ``keep`` (when given) receives the raw receipts and commit times
    (``seen``, ``commit``) and the server's pid (``pid``), and its ``started`` event (when
    given) is set as the job is let go: for a closer look (bench/latency.py)."""
    with Procs(section) as procs:
        upstream = await start_upstream(procs, latency_ms=1, keys=1, name="upstream-fanout")
        store_url, db = await start_store(procs, store, "fanout")
        server = await start_server(
            procs,
            store_url=store_url,
            upstream=upstream,
            keys=1,
            rate=rate,
            keyword_concurrency=64,
            max_active_jobs=1,
            uvloop=uvloop,
            db_path=db,
            name="server-fanout",
            extra=extra,
        )
        if keep is not None:
            keep["pid"] = server.proc.pid
        async with aiohttp.ClientSession() as http:
            words = [f"fan-{i}-{time.time_ns()}" for i in range(events)]
            job_id, blocker = await queued_job(http, server, upstream, words, ["blog"])
            specs = []
            if n_sse:
                specs.append(sse_spec(server.port, f"/api/documents/events?jobId={job_id}", n_sse))
            if n_ws:
                first = json.dumps({"type": "subscribe", "jobId": job_id})
                specs.append(ws_spec(server.port, "/api/documents/ws", n_ws, first))
            for s in specs:
                s.update(max_s=(events / rate * 4 + 120) * patience(), until_closed=False)
                s.update(record=True, wait_first=True)
            async with Swarm(specs, section) as swarm:
                ready = await swarm.start(timeout_s=120 * patience())
                connected = sum(r["connected"] for r in ready)
                if connected < n_sse + n_ws:
                    section.notes.append(f"ours {store}: only {connected} subscribers connected")
                started = sum(r.get("started", 0) for r in ready)
                if started < connected:
                    section.notes.append(
                        f"ours {store}: {connected - started} subscribers had no snapshot yet "
                        "when the job started"
                    )
                cpu0 = cpu_s(server.proc.pid)
                released_ms = int(time.time() * 1000)
                await release(http, server, blocker)
                if keep is not None and "started" in keep:
                    keep["started"].set()
                why = await wait_job(http, server, job_id, events / rate * 4 + 60)
                if why:
                    section.notes.append(f"ours {store}, {n_sse} SSE + {n_ws} WS: {why}")
                await asyncio.sleep(1.0)  # the last events reach the subscribers
                cpu = cpu_s(server.proc.pid) - cpu0
                seen = await swarm.finish(timeout_s=600 * patience())
        if db is not None:
            commit = sqlite_commit_times(db, job_id)
        else:
            commit = await redis_commit_times(store_url, job_id)
        # Only what was committed after the job was let go: earlier events reach a subscriber
        # inside its snapshot (whose id is the last of them), not as deliveries.
        commit = {k: v for k, v in commit.items() if v >= released_ms}
        seen.receipts = [(i, t) for i, t in seen.receipts if i in commit]
        if keep is not None:
            keep.update(seen=seen, commit=commit)
        return summarize(seen, commit, n_sse + n_ws, len(commit)), cpu


async def ours_alone(
    section: Section,
    kind: str,
    n: int,
    events: int,
    rate: float,
    uvloop: bool,
    extra: list[str] | None = None,
) -> tuple[dict[str, float | None], float]:
    """``ours`` on SQLite with ``n`` subscribers of one transport (``kind``: sse or ws), the
    shape every comparison with a peer takes."""
    return await ours(
        section,
        store="sqlite",
        n_sse=n if kind == "sse" else 0,
        n_ws=n if kind == "ws" else 0,
        events=events,
        rate=rate,
        uvloop=uvloop,
        extra=extra,
    )


async def queued_job(
    http: aiohttp.ClientSession,
    server: Server,
    upstream: Upstream,
    words: list[str],
    categories: list[str],
) -> tuple[str, str]:
    """A job held in the queue (server started with --max-active-jobs 1) behind a blocker whose
    upstream call hangs; cancelling the blocker (DELETE) starts it. Returns (job, blocker)."""
    async with http.post(
        f"http://127.0.0.1:{upstream.port}/_faults",
        json={"kind": "timeout", "query": BLOCKER, "times": 100},
    ) as resp:
        await resp.read()
    blocker = await submit(http, server, [BLOCKER], ["blog"])
    await asyncio.sleep(0.3)
    return await submit(http, server, words, categories), blocker


async def release(http: aiohttp.ClientSession, server: Server, blocker: str) -> None:
    async with http.delete(f"{server.base}/api/documents/jobs/{blocker}") as resp:
        await resp.read()


async def wait_job(
    http: aiohttp.ClientSession, server: Server, job_id: str, quiet_s: float
) -> str | None:
    """Wait for the job to complete, at most ``quiet_s`` × patience() (the load average says
    how much slower than quiet this machine is now). Returns None when it completed, else why
    not (status and results so far): the case then reports what was delivered by then."""
    bound_s = quiet_s * patience()
    deadline = time.monotonic() + bound_s
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        # The job list (5 newest, no results) rather than the status of a job whose results
        # grow: the wait should not cost the server it measures.
        try:
            async with http.get(f"{server.base}/api/documents/jobs", params={"limit": "5"}) as resp:
                jobs = (await resp.json())["jobs"]
            status = next((j for j in jobs if j["id"] == job_id), {})
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            status = {}
        if status.get("status") == "completed":
            return None
        await asyncio.sleep(0.5)
    progress = status.get("progress") or {}
    return (
        f"the job did not complete within {bound_s:.0f} s ({quiet_s:.0f} s quiet bound × "
        f"{patience():.1f} for load {os.getloadavg()[0]:.1f}): status "
        f"{status.get('status', 'unknown')}, {progress.get('current', '?')} of "
        f"{progress.get('total', '?')} keywords; rows count what was delivered by then"
    )


# --- peers ----------------------------------------------------------------------------------


async def peer(
    section: Section, kind: str, n: int, events: int, rate: float, uvloop: bool
) -> tuple[dict[str, float | None], float]:
    port = free_port()
    times = Path(tempfile.mkdtemp(prefix="doccount-peer-")) / "times.json"
    with Procs(section) as procs:
        argv = [PY, "-m", "bench.peers", kind, "--port", str(port), "--events", str(events)]
        argv += ["--rate", f"{rate:g}", "--times-out", str(times)]
        if uvloop:
            argv.append("--uvloop")
        proc = procs.start(f"peer-{kind}", argv)
        await wait_port(port, proc)
        if kind == "sse":
            spec = sse_spec(port, "/events", n)
        else:
            spec = ws_spec(port, "/", n, json.dumps({"type": "subscribe"}))
        spec.update(max_s=(events / rate * 4 + 120) * patience(), until_closed=False)
        spec.update(record=True)
        async with Swarm([spec], section) as swarm:
            await swarm.start(timeout_s=120 * patience())
            cpu0 = cpu_s(proc.pid)
            os.kill(proc.pid, signal.SIGUSR1)
            bound_s = (events / rate * 4 + 60) * patience()
            deadline = time.monotonic() + bound_s
            while not times.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            cpu = cpu_s(proc.pid) - cpu0
            seen = await swarm.finish(timeout_s=600 * patience())
        if not times.exists():
            section.notes.append(
                f"peer {kind}: its producer did not finish {events} events within {bound_s:.0f} s"
                f" (load {os.getloadavg()[0]:.1f}); its rows are n/a"
            )
            return {}, cpu
        commit = {k: int(v) for k, v in json.loads(times.read_text()).items()}
        # Results only, as for ours: the peer also sends our status and progress events.
        seen.receipts = [(i, t) for i, t in seen.receipts if i in commit]
        return summarize(seen, commit, n, events), cpu


# --- the benchmark --------------------------------------------------------------------------


def _rows(
    section: Section,
    case: str,
    mine: dict[str, float | None] | None,
    theirs: dict[str, float | None] | None,
    *,
    goal_rate: float | None,
    goal_p99: float | None,
    note: str = "",
    cpu: tuple[float, float] | None = None,
) -> None:
    m = mine or {}
    t = theirs or {}
    per_s = m.get("per_s")
    section.add(
        Row(
            case,
            "deliveries/s",
            per_s,
            "/s",
            goal=f"≥ {goal_rate:,.0f}/s" if goal_rate else "",
            met=None if goal_rate is None or per_s is None else per_s >= goal_rate,
            peer=t.get("per_s"),
            note=(
                f"{(m.get('complete') or 0) * 100:.1f}% of offered delivered"
                + (f"; peer {(t.get('complete') or 0) * 100:.1f}%" if theirs else "")
                + (f"; {note}" if note else "")
            ),
        )
    )
    p99 = m.get("p99")
    section.add(
        Row(
            case,
            "latency p99 (commit → receipt)",
            p99,
            "ms",
            goal=f"< {goal_p99:g} ms" if goal_p99 else "",
            met=None if goal_p99 is None or p99 is None else p99 < goal_p99,
            peer=t.get("p99"),
            better="lower",
            note=f"p50 {m.get('p50') or 0:.1f} ms, max {m.get('max') or 0:.1f} ms"
            + (f"; peer p50 {t.get('p50') or 0:.1f} ms" if theirs else ""),
        )
    )
    if cpu is None:
        return
    ours_cpu, peer_cpu = cpu
    section.add(
        Row(
            case,
            "server CPU per delivered result",
            per_delivery_us(ours_cpu, m),
            "µs",
            peer=per_delivery_us(peer_cpu, t) if theirs is not None else None,
            better="lower",
            note=f"CPU ours {ours_cpu:.2f} s for {m.get('deliveries') or 0:,.0f} deliveries"
            + (
                f", peer {peer_cpu:.2f} s for {t.get('deliveries') or 0:,.0f}"
                if theirs is not None
                else ""
            ),
        )
    )


def per_delivery_us(cpu: float, figures: dict[str, float | None]) -> float | None:
    """Server CPU (user + system, whole run from release to the last receipt) per delivery."""
    deliveries = figures.get("deliveries")
    return cpu / deliveries * 1e6 if deliveries else None


async def run(section: Section, *, quick: bool, uvloop: bool) -> None:
    n = 200 if quick else 1000
    subs = 2 * n
    # Throughput: offered 100 events/s × 2,000 subscribers = 200,000 deliveries/s.
    hi_rate, hi_events = 100.0, (100 if quick else 1000)
    # Latency: 5 events/s × 2,000 = 10,000 deliveries/s (the goal's load).
    lo_rate, lo_events = 10_000 / subs, (40 if quick else 100)
    section.notes.append(PACE_NOTE)
    has_hub = hub_available()
    if not has_hub:
        section.notes.append("Hub (SSE/WS endpoints) not merged yet: our rows are n/a.")
    # --quick keeps `make bench BENCH_ARGS=--quick` within its 5 minutes: sqlite only.
    stores = ["sqlite"] + (["redis"] if redis_store_available() and not quick else [])
    labels = [("throughput", hi_rate, hi_events, 50_000.0, None)]
    if not quick:  # --quick: the goal's latency figure is `python -m bench latency`'s
        labels.append(("latency", lo_rate, lo_events, None, 50.0))
    for label, rate, events, goal_rate, goal_p99 in labels:
        offered = rate * subs
        # Ours on both transports at once: the goal's figure.
        for store in stores if has_hub else []:
            mine, cpu = await ours(
                section,
                store=store,
                n_sse=n,
                n_ws=n,
                events=events,
                rate=rate,
                uvloop=uvloop,
            )
            _rows(
                section,
                f"{label}: {n} SSE + {n} WS, {offered:,.0f}/s offered, {store}",
                mine,
                None,
                # A --quick run offers less than the goal's rate: no verdict on it.
                goal_rate=goal_rate if goal_rate is not None and offered >= goal_rate else None,
                goal_p99=(100.0 if store == "redis" else goal_p99) if goal_p99 else None,
                cpu=(cpu, 0.0),
            )
        # Each transport alone, ours beside its peer at the same per-subscriber rate.
        for kind in ("sse", "ws"):
            theirs, pcpu = await peer(section, kind, n, events, rate, uvloop)
            mine, cpu = (None, 0.0)
            if has_hub:
                mine, cpu = await ours_alone(section, kind, n, events, rate, uvloop)
            _rows(
                section,
                f"{label}: {n} {kind.upper()} only, {rate * n:,.0f}/s offered, vs peer",
                mine,
                theirs,
                goal_rate=None,
                goal_p99=None,
                cpu=(cpu, pcpu),
            )
