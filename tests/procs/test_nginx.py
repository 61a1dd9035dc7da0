"""docs/deploy.md's nginx configuration, run as written (ports replaced) by a real nginx in front
of a real service process: SSE arrives event by event, the WebSocket works, and the per-client
limits apply to each real client (the service started with --trusted-proxy)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.common import skip_or_fail, wait_until
from tests.support.procs import Proc, Procs
from tests.support.redis_server import free_port
from tests.support.streams import SseBlocks

NGINX = "/usr/sbin/nginx"
DEPLOY_MD = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
LATENCY_MS = 250
KEYWORDS = [f"프록시 {i}" for i in range(6)]

pytestmark = pytest.mark.timeout(120)


def deploy_config(nginx_port: int, service_port: int) -> str:
    block = re.search(r"```nginx\n(.*?)```", DEPLOY_MD.read_text(encoding="utf-8"), re.S)
    assert block is not None, "docs/deploy.md has no nginx block"
    text = block.group(1)
    assert "listen 80;" in text and "server 127.0.0.1:8080;" in text
    text = text.replace("listen 80;", f"listen 127.0.0.1:{nginx_port};")
    return text.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{service_port};")


@pytest.fixture
def nginx_binary() -> str:
    if not Path(NGINX).exists():
        skip_or_fail(f"{NGINX} not found (apt-get install nginx)")
    return NGINX


def start_nginx(
    binary: str, directory: Path, service_port: int
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(
        f"""worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
{deploy_config(port, service_port)}
}}
""",
        encoding="utf-8",
    )
    popen = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=open(directory / "stderr.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    return popen, port


@pytest.fixture
async def stack(tmp_path: Path, nginx_binary: str) -> AsyncIterator[dict[str, Any]]:
    procs = Procs(tmp_path)
    nginx: subprocess.Popen[bytes] | None = None
    try:
        await procs.upstream(latency_ms=LATENCY_MS)
        service: Proc = await procs.listening(
            "service",
            *("-m", "server", "serve", "--store", f"sqlite:///{tmp_path}/jobs.db"),
            *("--port", "{port}", "--trusted-proxy", "127.0.0.1"),
            *("--max-queued-jobs-per-client", "2", "--keyword-concurrency", "1"),
            ready_path="/api/config",
        )
        nginx, port = start_nginx(nginx_binary, tmp_path, service.port or 0)
        url = f"http://127.0.0.1:{port}"

        async def up() -> bool:
            if nginx is not None and nginx.poll() is not None:
                raise AssertionError((tmp_path / "error.log").read_text(errors="replace"))
            try:
                async with aiohttp.ClientSession() as s, s.get(f"{url}/api/config") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await wait_until(up, timeout_s=20, step_s=0.05)
        yield {"url": url, "service": service}
    finally:
        if nginx is not None and nginx.poll() is None:
            nginx.terminate()
            nginx.wait(timeout=10)
        procs.stop_all()


@asynccontextmanager
async def client_at(address: str) -> Iterator[aiohttp.ClientSession]:  # type: ignore[misc]
    """A client whose connections come from ``address`` (any 127.x address is this machine)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def submit(
    http: aiohttp.ClientSession, url: str, keywords: list[str], **headers: str
) -> tuple[int, Any]:
    async with http.post(
        f"{url}/api/documents/batch",
        json={"keywords": keywords, "categories": ["blog"]},
        headers=headers,
    ) as resp:
        return resp.status, await resp.json()


async def test_sse_arrives_event_by_event_through_nginx(stack: dict[str, Any]) -> None:
    url, service = stack["url"], stack["service"]
    async with client_at("127.0.0.2") as http:
        status, body = await submit(http, url, KEYWORDS)
        assert status == 200
        job_id = body["jobId"]
        async with http.get(f"{url}/api/documents/events?jobId={job_id}") as resp:
            assert resp.status == 200
            blocks = SseBlocks(resp)
            results = 0
            while (block := await blocks.next()) is not None:
                if block.event == "result":
                    results += 1
                    if results == 1:
                        # Straight from the service: the job is still running when its first
                        # result has come through the proxy, so nothing was held back.
                        async with http.get(
                            f"{service.url}/api/documents/status?jobId={job_id}"
                        ) as direct:
                            job = (await direct.json())["job"]
                        assert job["status"] == "processing"
                        assert job["progress"]["current"] < len(KEYWORDS)
                if block.event == "status" and block.json()["status"] == "completed":
                    break
            assert results == len(KEYWORDS)


async def test_websocket_through_nginx(stack: dict[str, Any]) -> None:
    async with (
        client_at("127.0.0.3") as http,
        http.ws_connect(f"{stack['url']}/api/documents/ws") as ws,
    ):
        await ws.send_json({"type": "subscribe", "jobs": "all"})
        frame = await ws.receive_json(timeout=20)
        assert frame["type"] == "jobs"


async def test_limits_apply_per_real_client_behind_nginx(stack: dict[str, Any]) -> None:
    url = stack["url"]
    async with client_at("127.0.0.4") as a, client_at("127.0.0.5") as b:
        assert [(await submit(a, url, KEYWORDS))[0] for _ in range(3)] == [200, 200, 429]
        # Another client behind the same proxy has its own quota...
        assert (await submit(b, url, KEYWORDS))[0] == 200
        # ...and the first cannot borrow someone else's by naming another address.
        status, body = await submit(a, url, KEYWORDS, **{"X-Forwarded-For": "127.0.0.99"})
        assert (status, body["code"]) == (429, "too_many_jobs")
