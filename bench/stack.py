"""Start the pieces a benchmark needs: fake upstream, Redis, our server, and talk to the API."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.support.processes import free_port

from .common import NAVER_KEYS, PY, Proc, Procs, patience, wait_http, wait_port

TERMINAL = ("completed", "failed", "cancelled")


def redis_store_available() -> bool:
    """The Redis store lands from another branch; until then redis rows say n/a."""
    return (
        importlib.util.find_spec("server.store.redis") is not None
        and shutil.which("redis-server") is not None
    )


def hub_available() -> bool:
    """SSE / WebSocket endpoints land from the hub branch."""
    return importlib.util.find_spec("server.live.hub") is not None


@dataclass
class Upstream:
    proc: Proc
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/search"

    async def calls(self) -> list[dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{self.port}/_calls") as resp,
        ):
            data: list[dict[str, Any]] = orjson.loads(await resp.read())
            return data

    @property
    def ad_base(self) -> str:
        """The fake Search Ad keyword tool, served by the same process."""
        return f"http://127.0.0.1:{self.port}"

    async def ad_calls(self) -> list[dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{self.port}/_adcalls") as resp,
        ):
            data: list[dict[str, Any]] = orjson.loads(await resp.read())
            return data

    async def reset(self) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{self.port}/_reset") as resp,
        ):
            await resp.read()


async def start_upstream(
    procs: Procs, latency_ms: float, keys: int = len(NAVER_KEYS), name: str = "upstream"
) -> Upstream:
    port = free_port()
    spec = ",".join(f"{k}:secret-{k}" for k in NAVER_KEYS[:keys])
    proc = procs.start(
        name,
        [
            PY,
            "-m",
            "tests.support.fakeupstream",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
            "--keys",
            spec,
        ],
    )
    await wait_port(port, proc)
    return Upstream(proc, port)


async def start_redis(procs: Procs) -> str:
    """Our own redis-server (not the system one), nothing persisted."""
    port = free_port()
    proc = procs.start(
        "redis",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    )
    await wait_port(port, proc)
    return f"redis://127.0.0.1:{port}/0"


@dataclass
class Server:
    proc: Proc
    port: int
    store_url: str
    db_path: Path | None  # sqlite: where the event log can be read back

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def sqlite_url(tag: str) -> tuple[str, Path]:
    path = Path(tempfile.mkdtemp(prefix=f"doccount-bench-{tag}-")) / "bench.db"
    return f"sqlite:///{path}", path  # path is absolute, so this is sqlite:////tmp/...


async def start_store(procs: Procs, store: str, tag: str) -> tuple[str, Path | None]:
    """The store URL for ``store`` ("redis": our own redis-server; else a fresh SQLite file),
    and the SQLite file's path (None on redis)."""
    if store == "redis":
        return await start_redis(procs), None
    return sqlite_url(tag)


async def start_server(
    procs: Procs,
    *,
    store_url: str,
    upstream: Upstream | None,
    keys: int = 1,
    rate: float | None = None,
    keyword_concurrency: int | None = None,
    max_active_jobs: int | None = None,
    uvloop: bool = False,
    worker: bool = True,
    extra: list[str] | None = None,
    name: str = "server",
    db_path: Path | None = None,
    env_extra: dict[str, str] | None = None,
) -> Server:
    port = free_port()
    # No start-up key check: the benchmarks count every upstream call as the job's.
    argv = [
        PY,
        "-m",
        "server",
        "serve",
        "--port",
        str(port),
        "--store",
        store_url,
        "--no-key-check",
    ]
    env: dict[str, str] = dict(env_extra or {})
    if upstream is not None:
        env["NAVER_API_KEYS"] = ",".join(f"{k}:secret-{k}" for k in NAVER_KEYS[:keys])
        env["NAVER_API_BASE"] = upstream.base
        argv += ["--provider", "naver"]
    else:
        argv += ["--provider", "demo"]
    if rate is not None:
        argv += ["--rate", f"{rate:g}"]
    if keyword_concurrency is not None:
        argv += ["--keyword-concurrency", str(keyword_concurrency)]
    if max_active_jobs is not None:
        argv += ["--max-active-jobs", str(max_active_jobs)]
    if uvloop:
        argv.append("--uvloop")
    if not worker:
        argv.append("--no-worker")
    argv += extra or []
    proc = procs.start(name, argv, env)
    await wait_http(f"http://127.0.0.1:{port}/api/config", proc)
    return Server(proc, port, store_url, db_path)


async def submit(
    http: aiohttp.ClientSession,
    server: Server,
    keywords: list[str],
    categories: list[str] | None = None,
) -> str:
    body: dict[str, Any] = {"keywords": keywords}
    if categories:
        body["categories"] = categories
    async with http.post(f"{server.base}/api/documents/batch", json=body) as resp:
        data = await resp.json()
        if not data.get("success"):
            raise RuntimeError(f"submit failed: {data}")
        job_id: str = data["jobId"]
        return job_id


async def get_job(http: aiohttp.ClientSession, server: Server, job_id: str) -> dict[str, Any]:
    async with http.get(f"{server.base}/api/documents/status", params={"jobId": job_id}) as resp:
        data = await resp.json()
        job: dict[str, Any] = data["job"]
        return job


async def wait_done(
    http: aiohttp.ClientSession,
    server: Server,
    job_id: str,
    timeout_s: float,
    every_s: float = 0.25,
) -> dict[str, Any]:
    """Poll lightly: the jobs list carries no results, so watching costs the server little.
    ``timeout_s`` is the quiet bound; a loaded machine stretches it by ``patience()``."""
    timeout_s *= patience()
    deadline = time.monotonic() + timeout_s
    while True:
        async with http.get(f"{server.base}/api/documents/jobs", params={"limit": "20"}) as resp:
            jobs = (await resp.json())["jobs"]
        job: dict[str, Any] = next((j for j in jobs if j["id"] == job_id), {"status": "?"})
        if job["status"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"job {job_id} not done in {timeout_s:.0f} s (load "
                f"{os.getloadavg()[0]:.1f}): {job.get('progress')}"
            )
        if not server.proc.alive():
            raise RuntimeError(f"server died:\n{server.proc.tail()}")
        await asyncio.sleep(every_s)
