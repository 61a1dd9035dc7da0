"""50,000 idle subscribers, SSE and WebSocket mixed, held on this machine (issue 15).

One process may hold at most the hard open-file limit (``ulimit -Hn``; 20,000 here, and raising
it needs CAP_SYS_RESOURCE, which these sessions lack), so the subscribers are spread over as
many web nodes (``serve --no-worker``) as that takes, all on one Redis store (the distributed
mode; the SQLite store is one process's), each node holding half SSE and half WebSocket, all
watching one pending job. Each node's memory per connection is its RSS once all are open minus
its RSS before, over its connections; a drop is a connection a server closed during the hold.

    python -m bench hold [--quick]        # --quick: 6,000 on 2 nodes, held 20 s
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
import time

import aiohttp

from .common import Procs, Row, Section, patience, raise_nofile, rss_kib
from .fanout import sse_spec, ws_spec
from .idle import split
from .stack import hub_available, redis_store_available, start_server, start_store, submit
from .swarm import Swarm, sources

# Files a node needs besides its connections (store, logs, listening socket, slack).
SPARE_FILES = 1500


async def run(section: Section, *, quick: bool, uvloop: bool) -> None:
    total = 6000 if quick else 50_000
    hold_s = 20.0 if quick else 60.0
    raise_nofile(200_000)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    per_node = hard - SPARE_FILES
    nodes = max(2, math.ceil(total / per_node))
    section.notes.append(
        f"Open-file limit {hard} per process (hard; not raisable without CAP_SYS_RESOURCE): "
        f"{nodes} web nodes on one Redis store, ≤ {per_node:,} connections each."
    )
    if not hub_available() or not redis_store_available():
        section.notes.append("needs the hub and a redis-server: not run")
        return
    with Procs(section) as procs:
        store_url, _ = await start_store(procs, "redis", "hold")
        servers = []
        for i in range(nodes):
            servers.append(
                await start_server(
                    procs,
                    store_url=store_url,
                    upstream=None,
                    uvloop=uvloop,
                    worker=False,
                    name=f"server-hold-{i}",
                    extra=["--max-streams-per-client", "1000000"],
                )
            )
        async with aiohttp.ClientSession() as http:
            job_id = await submit(http, servers[0], ["hold"])
        await asyncio.sleep(1.0)
        before = [rss_kib(s.proc.pid) for s in servers]
        specs: list[dict[str, object]] = []
        block = 20
        for server, count in zip(servers, split(total, nodes), strict=True):
            n_sse, n_ws = split(count, 2)
            sse = sse_spec(server.port, f"/api/documents/events?jobId={job_id}", n_sse)
            first = json.dumps({"type": "subscribe", "jobId": job_id})
            ws = ws_spec(server.port, "/api/documents/ws", n_ws, first)
            for spec, n in ((sse, n_sse), (ws, n_ws)):
                spec["sources"] = sources(n // 1000 + 1, block=block)
                block += 1
                spec.update(max_s=hold_s + 600, record=False, batch=500)
                specs.append(spec)
        async with Swarm(specs, section) as swarm:
            t0 = time.monotonic()
            ready = await swarm.start(timeout_s=900 * patience())
            now = {"open": 0, "closedByServer": 0, "failed": 0}
            connected = sum(r["connected"] for r in ready)
            # On a loaded machine some connections complete after a generator's READY: the
            # hold starts once all are open, or once their number stops growing for 20 s.
            deadline = time.monotonic() + 180 * patience()
            last, still_since = -1, time.monotonic()
            while time.monotonic() < deadline:
                now = await swarm.stats()
                if now["open"] >= total or time.monotonic() - still_since > 20:
                    break
                if now["open"] != last:
                    last, still_since = now["open"], time.monotonic()
                await asyncio.sleep(2.0)
            connect_s = time.monotonic() - t0
            connected = max(connected, now["open"] + now["closedByServer"])
            await asyncio.sleep(5.0)  # snapshots out, buffers settled
            after = [rss_kib(s.proc.pid) for s in servers]
            await asyncio.sleep(max(0.0, hold_s - 5.0))
            end = await swarm.stats()
            peak = [rss_kib(s.proc.pid) for s in servers]
            await swarm.finish()
    grown_kib = sum(a - b for a, b in zip(after, before, strict=True))
    per_conn = grown_kib / connected if connected else float("nan")
    dropped = end["closedByServer"] + max(0, connected - end["open"] - end["closedByServer"])
    label = f"{total:,} idle subscribers (SSE + WS mixed) on {nodes} nodes, held {hold_s:.0f} s"
    rss = ", ".join(
        f"{b / 1024:.0f} → {max(a, p) / 1024:.0f}"
        for b, a, p in zip(before, after, peak, strict=True)
    )
    section.add(
        Row(
            label,
            "connections held at the end",
            float(end["open"]),
            "",
            goal=f"{total:,}",
            met=end["open"] >= total and dropped == 0,
            note=(
                f"connected {connected:,} in {connect_s:.0f} s; dropped {dropped}; failed "
                f"{end['failed']}; heartbeats seen {end['heartbeats']:,}"
            ),
        )
    )
    section.add(
        Row(
            label,
            "server memory per connection",
            per_conn,
            "KiB",
            note=f"RSS per node MiB (before → held): {rss}; total {sum(after) / 1024:.0f} MiB",
        )
    )
