"""Latency at the goal's load: commit → receipt at 10,000 deliveries/s, on both stores, and
where the time goes.

Method. The fan-out case's own run (bench/fanout.py ``ours``): 1,000 SSE + 1,000 WebSocket
subscribers (``--quick``: 300 + 300) on one job of one category whose results the worker
commits at 5/s (10,000 deliveries/s offered; ``--quick``: 16.7/s, the same 10,000/s), on
SQLite and on our own redis-server. Latency is the client's receipt time minus the event's
commit time as the store wrote it (SQLite ``events.created_at``, Redis' own clock in the entry).
Beside it (not ``--quick``), the same load on one transport at a time, 2,000 SSE or 2,000
WebSocket subscribers, ours and the peer's: what a server that does nothing but fan out reaches
on this machine.

Where the time goes, from the receipts themselves (every event reaches every subscriber, so
each event has 2,000 receipt times):

- commit → first receipt: store commit, the hub's wake-up and read of the new event, framing it
  once, writing it to the first socket, and that client reading and parsing it;
- first → last receipt of the same event: the fan-out itself, i.e. the server writing the one
  frame into 2,000 sockets one after another, and the load generators (other processes on the
  same 2 cores) reading them.

Where the server's CPU goes: when ``py-spy`` is on the PATH (it is in the bench extra) and the
run is not ``--quick``, a second run per store is sampled with ``py-spy record`` (100 Hz, all
threads, not idle), and every sample is charged to the innermost frame in ``server/`` (or to
the library it is in when no server frame is on the stack); the shares go in the notes. The
profiled run's latency is not reported (sampling slows the process it samples).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from .common import Row, Section, delivered, fmt, pct
from .fanout import ours, ours_alone, peer
from .stack import hub_available, redis_store_available
from .swarm import Seen

GOAL_P99_MS = 30.0
DELIVERIES_PER_S = 10_000.0


def breakdown(seen: Seen, commit: dict[str, int]) -> dict[str, float | None]:
    """Per event: first receipt − commit, and last − first receipt (the fan-out's spread)."""
    by_event: dict[str, list[float]] = collections.defaultdict(list)
    for event_id, t in seen.receipts:
        by_event[event_id].append(t * 1000)
    first = [min(ts) - commit[e] for e, ts in by_event.items()]
    spread = [max(ts) - min(ts) for ts in by_event.values()]
    return {
        "first_p50": pct(first, 50),
        "first_p99": pct(first, 99),
        "spread_p50": pct(spread, 50),
        "spread_p99": pct(spread, 99),
        "events": float(len(by_event)),
    }


def charge(stack: str) -> str:
    """The innermost ``server/`` frame of one collapsed py-spy stack (``module:function``),
    else the innermost library's name, else what is left (the event loop, the interpreter)."""
    paths = []
    for frame in stack.split(";")[1:]:
        # py-spy frames read "function (path/to/file.py:line)", paths relative to sys.path.
        fn, _, where = frame.partition(" (")
        paths.append((fn, where.rsplit(":", 1)[0]))
    for fn, path in reversed(paths):
        if path.startswith("server/") or "/server/" in path:
            module = path.split("server/", 1)[1].removesuffix(".py")
            if module == "cli":  # run_app's frame: uvloop's own C code runs under it
                return "event loop (uvloop C code under run_app)"
            return f"server/{module}:{fn}"
    for _, path in reversed(paths):
        if "/" in path and not path.startswith("<"):
            return f"{path.split('/')[0]} (no server frame)"
    return "other (interpreter, event loop)"


async def profile(section: Section, store: str, n: int, events: int, rate: float) -> str | None:
    """One run of ``store`` sampled by py-spy; the top shares of the server's samples."""
    # The bench extra installs it beside this interpreter; the PATH may not have the venv.
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return None
    out = Path(tempfile.mkdtemp(prefix="doccount-latency-")) / f"{store}.txt"
    started = asyncio.Event()
    keep: dict[str, Any] = {"started": started}
    spy_proc: asyncio.subprocess.Process | None = None

    async def sample() -> None:
        nonlocal spy_proc
        await started.wait()
        duration = max(1, int(events / rate))
        spy_proc = await asyncio.create_subprocess_exec(
            spy, "record", "--pid", str(keep["pid"]), "--rate", "100", "--duration",
            str(duration), "--format", "raw", "--threads", "--nonblocking", "-o", str(out),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await spy_proc.wait()

    sampler = asyncio.create_task(sample())
    try:
        await ours(
            section, store=store, n_sse=n, n_ws=n, events=events, rate=rate, uvloop=True,
            keep=keep,
        )  # fmt: skip
        await asyncio.wait_for(sampler, 120)
    except Exception as exc:  # the profile is a note, never the case's failure
        sampler.cancel()
        if spy_proc is not None and spy_proc.returncode is None:
            spy_proc.kill()
        return f"profile of {store} failed: {exc!r}"
    if not out.exists():
        return f"profile of {store}: py-spy wrote nothing (ptrace not allowed?)"
    shares: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            # "--threads" puts the thread first: the SQLite writer/reader threads show apart.
            thread = "thread" if "thread (" in stack.split(";")[0] else ""
            label = charge(stack)
            if thread and "MainThread" not in stack.split(";")[0]:
                label = f"[worker thread] {label}"
            shares[label] += int(count)
    total = sum(shares.values())
    if not total:
        return f"profile of {store}: no samples"
    top = ", ".join(f"{k} {v / total * 100:.0f}%" for k, v in shares.most_common(10))
    return f"Server CPU samples, {store} ({total:,} samples at 100 Hz, busiest first): {top}."


async def beside_peers(section: Section, n: int, events: int, rate: float, uvloop: bool) -> None:
    """The same load on one transport at a time, ours (SQLite) and the peer: the peers have no
    mixed SSE + WS server, and two peer processes would fan out on two cores where ours has
    one. So the goal's row has no peer beside it; these rows say what a server that only fans
    out reaches on this machine at the same 10,000 deliveries/s."""
    for kind in ("sse", "ws"):
        mine, _ = await ours_alone(section, kind, 2 * n, events, rate, uvloop)
        theirs, _ = await peer(section, kind, 2 * n, events, rate, uvloop)
        p99 = mine.get("p99")
        section.add(
            Row(
                f"{2 * n} {kind.upper()} only, {DELIVERIES_PER_S:,.0f}/s offered, sqlite, vs peer",
                "latency p99 (commit → receipt)",
                p99,
                "ms",
                goal=f"< {GOAL_P99_MS:g} ms",
                met=None if p99 is None else p99 < GOAL_P99_MS,
                peer=theirs.get("p99"),
                better="lower",
                note=f"p50 {fmt(mine.get('p50'))} ms, peer p50 {fmt(theirs.get('p50'))} ms; "
                f"delivered {delivered(mine)}, peer {delivered(theirs)}; "
                f"load {os.getloadavg()[0]:.1f}",
            )
        )


async def run(section: Section, *, quick: bool, uvloop: bool) -> None:
    if not hub_available():
        section.notes.append("Hub (SSE/WS endpoints) not merged yet: n/a.")
        return
    n = 300 if quick else 1000
    rate = DELIVERIES_PER_S / (2 * n)
    events = 30 if quick else 100
    stores = ["sqlite"] + (["redis"] if redis_store_available() else [])
    where: list[str] = []
    costs_us: list[float] = []  # server CPU per delivered result, per store
    for store in stores:
        keep: dict[str, Any] = {}
        mine, cpu = await ours(
            section, store=store, n_sse=n, n_ws=n, events=events, rate=rate, uvloop=uvloop,
            keep=keep,
        )  # fmt: skip
        case = f"{n} SSE + {n} WS, {DELIVERIES_PER_S:,.0f}/s offered, {store}"
        p99 = mine.get("p99")
        deliveries = mine.get("deliveries") or 0.0
        section.add(
            Row(
                case,
                "latency p99 (commit → receipt)",
                p99,
                "ms",
                goal=f"< {GOAL_P99_MS:g} ms",
                met=None if p99 is None else p99 < GOAL_P99_MS,
                better="lower",
                note=f"p50 {fmt(mine.get('p50'))} ms, max {fmt(mine.get('max'))} ms; "
                f"{(mine.get('complete') or 0) * 100:.1f}% of offered delivered "
                f"({deliveries:,.0f}); load {os.getloadavg()[0]:.1f}",
            )
        )
        if "seen" in keep:
            b = breakdown(keep["seen"], keep["commit"])
            if os.environ.get("BENCH_DUMP"):  # every receipt, for a closer look by hand
                dump = Path(os.environ["BENCH_DUMP"]) / f"latency-{store}.json"
                dump.write_text(
                    json.dumps({"commit": keep["commit"], "receipts": keep["seen"].receipts})
                )
            section.add(
                Row(
                    case,
                    "commit → first subscriber's receipt, p99 over events",
                    b["first_p99"],
                    "ms",
                    better="lower",
                    note=f"p50 {fmt(b['first_p50'])} ms: store commit, hub wake-up and read, "
                    "framing once, the first write, the client's parse",
                )
            )
            section.add(
                Row(
                    case,
                    "first → last subscriber's receipt of one event, p99 over events",
                    b["spread_p99"],
                    "ms",
                    better="lower",
                    note=f"p50 {fmt(b['spread_p50'])} ms: writing one frame to {2 * n:,} "
                    f"sockets, and {2 * n:,} reads by the load generators on the same cores; "
                    f"{b['events']:.0f} events",
                )
            )
            per_event_ms = cpu / max(1.0, b["events"] or 1.0) * 1000
            if deliveries:
                costs_us.append(cpu / deliveries * 1e6)
            where.append(
                f"{store}: p50 {fmt(mine.get('p50'))} ms = commit → first receipt p50 "
                f"{fmt(b['first_p50'])} ms + about half the spread (first → last p50 "
                f"{fmt(b['spread_p50'])} ms); the server spent {per_event_ms:.0f} ms of CPU "
                "per event"
            )
        section.add(
            Row(
                case,
                "server CPU per delivered result",
                cpu / deliveries * 1e6 if deliveries else None,
                "µs",
                better="lower",
                note=f"{cpu:.2f} s CPU (user + system) from release to the last receipt, "
                "the job's own work included",
            )
        )
    if where and costs_us:
        section.notes.append(
            "Where the time goes. "
            + "; ".join(where)
            + ". The part before the first receipt is the store commit, the hub's wake-up "
            "(SQLite: an in-process signal set after COMMIT, then a read on the reader "
            "thread; Redis: XREAD BLOCK, answered by Redis as the script appends), one "
            "framing per event and the first write. The rest is the fan-out: the feed writes "
            f"the one frame into all {2 * n:,} sockets in one pass of the loop (one send() "
            "each; see the CPU samples), so the last subscriber waits for every write before "
            "it, and the load generators' reads take the same 2 cores. At "
            f"{min(costs_us):.0f}–{max(costs_us):.0f} µs of server CPU per delivery in this "
            f"run, {2 * n:,} subscribers are {min(costs_us) * 2 * n / 1000:.0f}–"
            f"{max(costs_us) * 2 * n / 1000:.0f} ms of CPU per event: the fan-out, not the "
            "wake-up, sets the p99, and on a loaded machine the wait for a core adds to it "
            "(compare the --busy run and the load average)."
        )
    if not quick:
        await beside_peers(section, n, events, rate, uvloop)
    if not quick and not section.busy:  # the profile is taken once, without the burner
        for store in stores:
            note = await profile(section, store, n, events, rate)
            if note:
                section.notes.append(note)
    section.notes.append(
        "Latency is wall-clock: on a shared machine it includes the time the server and the "
        "load generators wait for a core. Compare with the `--busy` run (one core burned) "
        "below, and read the load average in the heading."
    )
