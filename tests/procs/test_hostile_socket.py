"""One hostile WebSocket cannot make a real server process hold memory: it re-subscribes to a
big finished job (each subscribe queues a whole snapshot) 1,500 times and never reads. The
connection is cut (bytes bound, frame rate limit) and the server's peak RSS barely moves."""

from __future__ import annotations

import contextlib
from pathlib import Path

import aiohttp

from server.codec import dumps
from server.settings import Settings
from server.store import store_from_url
from tests.support.common import wait_until
from tests.support.procs import Proc, Procs
from tests.support.rawws import DeafSocket
from tests.support.streams import Driver, create_job

RESULTS = 1000
FRAMES = 1500
# Peak RSS the hostile socket may add. Before the bound it added ~50 MB (a snapshot per frame,
# up to 512 queued, ~150 KB each); the bound is 4 MiB of backlog plus the transport's buffers.
MAX_GROWTH_KIB = 12 * 1024


async def finished_job(db: Path) -> tuple[str, int]:
    """A completed job of RESULTS results; returns its id and its snapshot's approximate size."""
    settings = Settings(store_url=f"sqlite:///{db}")
    store = store_from_url(settings.store_url, settings)
    await store.open()
    try:
        keywords = [f"keyword {i:04d} " + "x" * 80 for i in range(RESULTS)]
        job_id = await create_job(store, keywords)
        driver = Driver(store, job_id, keywords)
        await driver.claim()
        await driver.run_to_end()
        job = await store.get_job(job_id)
        assert job is not None and job["status"] == "completed"
        return job_id, len(dumps(job))
    finally:
        await store.close()


def status_kib(proc: Proc, field: str) -> int:
    for line in Path(f"/proc/{proc.popen.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc status")


async def ws_cuts(http: aiohttp.ClientSession, server: Proc) -> float:
    async with http.get(f"{server.url}/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith('doccount_slow_subscribers_cut_total{transport="ws"}'):
            return float(line.split()[-1])
    return 0.0


async def snapshot_over_a_normal_socket(http: aiohttp.ClientSession, server: Proc, job_id: str):
    async with http.ws_connect(f"{server.url}/api/documents/ws") as ws:
        await ws.send_json({"type": "subscribe", "jobId": job_id})
        frame = await ws.receive_json(timeout=30)
        assert frame["type"] == "snapshot" and len(frame["job"]["results"]) == RESULTS


async def test_a_socket_that_never_reads_cannot_grow_the_server(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    job_id, snapshot_bytes = await finished_job(db)
    assert snapshot_bytes > 100_000
    procs = Procs(tmp_path)
    try:
        server = await procs.listening(
            "server",
            *("-m", "server", "serve", "--provider", "demo", "--store", f"sqlite:///{db}"),
            *("--port", "{port}"),
            ready_path="/api/config",
        )
        async with aiohttp.ClientSession() as http:
            # Warm up every path the hostile socket takes (store reads, framing, a deaf peer).
            for _ in range(3):
                await snapshot_over_a_normal_socket(http, server, job_id)
            warm = await DeafSocket.connect("127.0.0.1", server.port or 0, "/api/documents/ws")
            for _ in range(3):
                await warm.send(dumps({"type": "subscribe", "jobId": job_id}))
            warm.close()
            peak_before = status_kib(server, "VmHWM")

            deaf = await DeafSocket.connect("127.0.0.1", server.port or 0, "/api/documents/ws")
            frame = dumps({"type": "subscribe", "jobId": job_id})
            with contextlib.suppress(ConnectionError):
                for _ in range(FRAMES):
                    await deaf.send(frame)

            async def cut() -> bool:
                return await ws_cuts(http, server) >= 1

            await wait_until(cut, timeout_s=30)
            growth = status_kib(server, "VmHWM") - peak_before
            deaf.close()
            assert growth < MAX_GROWTH_KIB, f"peak RSS grew by {growth} KiB"
            # The server still serves, and the cut socket's slot is given back.
            await snapshot_over_a_normal_socket(http, server, job_id)
    finally:
        procs.stop_all()
