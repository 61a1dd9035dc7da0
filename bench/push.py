"""Push vs the seed's polling: for one job, how long from a result's commit until a client sees
it, and how many bytes cross the wire (both ways, HTTP headers and framing included).

Three clients watch the same job at once: an SSE stream, a WebSocket, and a poller that asks
``GET /api/documents/status`` every 2 s on one keep-alive connection, as the seed's page did.
A result's commit time is its event's ``created_at`` in the event log (SQLite, read back after
the run). The job runs at the default rate (10 calls/s per key, 4 categories): 2.5 results/s.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from functools import partial
from pathlib import Path

import aiohttp
import orjson

from .clients import SseClient, Stats, WsClient, connect
from .common import Procs, Row, Section, pct
from .fanout import queued_job, release, wait_job
from .stack import Server, hub_available, sqlite_url, start_server, start_upstream


def result_commits(db: Path, job_id: str) -> tuple[dict[str, int], dict[int, int]]:
    """Commit ms by event id, and by result index (what a poller can see)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT seq, created_at, data FROM events WHERE job_id = ? AND type = 'result'",
            (job_id,),
        ).fetchall()
    finally:
        con.close()
    by_id = {str(s): int(c) for s, c, _ in rows}
    by_index = {int(orjson.loads(d)["result"]["index"]): int(c) for _, c, d in rows}
    return by_id, by_index


class Poller:
    """The seed's client: GET status every 2 s until the job is over."""

    def __init__(self, server: Server, job_id: str, every_s: float = 2.0) -> None:
        self.server = server
        self.job_id = job_id
        self.every_s = every_s
        self.first_seen: dict[int, float] = {}
        self.bytes_in = 0
        self.bytes_out = 0
        self.polls = 0

    async def run(self, max_s: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        request = (
            f"GET /api/documents/status?jobId={self.job_id} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{self.server.port}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        deadline = time.monotonic() + max_s
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                self.bytes_out += len(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                now = time.time()
                self.bytes_in += len(head) + len(body)
                self.polls += 1
                job = orjson.loads(body)["job"]
                for r in job["results"]:
                    self.first_seen.setdefault(int(r["index"]), now)
                if job["status"] in ("completed", "failed", "cancelled"):
                    return
                await asyncio.sleep(self.every_s)
        finally:
            writer.close()


async def run(section: Section, *, quick: bool, uvloop: bool) -> None:
    if not hub_available():
        section.notes.append("Hub (SSE/WS endpoints) not merged yet: push not measured.")
        return
    keywords = 10 if quick else 50
    with Procs(section) as procs:
        upstream = await start_upstream(procs, latency_ms=50, keys=1, name="upstream-push")
        store_url, db = sqlite_url("push")
        server = await start_server(
            procs,
            store_url=store_url,
            upstream=upstream,
            keys=1,
            max_active_jobs=1,
            uvloop=uvloop,
            db_path=db,
            name="server-push",
        )
        async with aiohttp.ClientSession() as http:
            words = [f"push-{i}-{time.time_ns()}" for i in range(keywords)]
            job_id, blocker = await queued_job(
                http, server, upstream, words, ["blog", "cafe", "news", "web"]
            )
            sse_stats, ws_stats = Stats(record=True), Stats(record=True)
            sse = await connect(
                partial(
                    SseClient,
                    stats=sse_stats,
                    host="127.0.0.1",
                    path=f"/api/documents/events?jobId={job_id}",
                    headers={},
                ),
                "127.0.0.1",
                server.port,
                None,
            )
            first = json.dumps({"type": "subscribe", "jobId": job_id}).encode()
            ws = await connect(
                partial(
                    WsClient,
                    stats=ws_stats,
                    host="127.0.0.1",
                    path="/api/documents/ws",
                    first_message=first,
                ),
                "127.0.0.1",
                server.port,
                None,
            )
            poller = Poller(server, job_id)
            await asyncio.sleep(0.5)
            await release(http, server, blocker)
            polling = asyncio.create_task(poller.run(keywords * 4 / 10 * 3 + 60))
            await wait_job(http, server, job_id, keywords * 4 / 10 * 3 + 60)
            await asyncio.wait_for(polling, 10)
            await asyncio.sleep(0.5)
            for client in (sse, ws):
                if client is not None:
                    client.close()
    by_id, by_index = result_commits(db, job_id)
    poll_lat = [
        poller.first_seen[i] * 1000 - c for i, c in by_index.items() if i in poller.first_seen
    ]
    poll_bytes = poller.bytes_in + poller.bytes_out
    for name, stats in (("SSE", sse_stats), ("WebSocket", ws_stats)):
        r = stats.receipts
        names = list(r.ids)
        lat = [
            r.seen[k + 1] * 1000 - by_id[names[int(r.seen[k])].decode()]
            for k in range(0, len(r.seen), 2)
            if names[int(r.seen[k])].decode() in by_id
        ]
        section.add(
            Row(
                f"{keywords} kw × 4 cat at 10 calls/s: {name}",
                "result commit → client sees it, p50",
                pct(lat, 50),
                "ms",
                peer=pct(poll_lat, 50),
                better="lower",
                note=f"max {max(lat, default=0):.1f} ms over {len(lat)} results; polling "
                f"max {max(poll_lat, default=0):.0f} ms",
            )
        )
        wire = stats.bytes_in + stats.bytes_out
        # Per delivered result, like the wire benchmark: both ways deliver the job's results.
        section.add(
            Row(
                f"{keywords} kw × 4 cat at 10 calls/s: {name}",
                "bytes on the wire (both ways) per delivered result",
                wire / keywords,
                "B",
                peer=poll_bytes / keywords,
                better="lower",
                note=f"{wire:,} B for {keywords} results (with progress and status events); "
                f"polling: {poller.polls} polls, {poll_bytes:,} B",
            )
        )
    section.notes.append(
        "The peer column here is the seed's polling every 2 s, measured on the same job at "
        "the same time; a ratio > 1 is how many times push is ahead."
    )
