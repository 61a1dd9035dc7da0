"""Real processes for the distributed tests: web nodes, workers and the fake upstream, each
on a free port with its output in a log file, all stopped (by pid) when the test ends."""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.common import wait_until
from tests.support.processes import REPO, Proc, ProcessGroup, free_port


async def listening_or_exited(proc: Proc, ready_path: str) -> bool:
    if proc.popen.poll() is not None:
        return True
    try:
        async with aiohttp.ClientSession() as session, session.get(proc.url + ready_path) as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


class Procs(ProcessGroup):
    """The service's processes as the tests start them: this Python, without the caller's
    DOCCOUNT_/NAVER_ settings, with the fake upstream's key."""

    def __init__(self, directory: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCCOUNT_", "NAVER_"))}
        env.update(NAVER_CLIENT_ID="test-id", NAVER_CLIENT_SECRET="test-secret")
        super().__init__(directory, env)

    def run(
        self,
        name: str,
        *args: str,
        port: int | None = None,
        program: str = sys.executable,
        cwd: Path = REPO,
    ) -> Proc:
        """``program`` (this Python by default) with ``args``, its output in ``<name>.log``."""
        return self.start(name, [program, *args], port=port, cwd=cwd)

    async def listening(self, name: str, *args: str, ready_path: str, **start: Any) -> Proc:
        """Start a server on a free port and wait until it answers ``ready_path``. A port
        probed free can be taken before the server binds it: then try another one."""
        for _ in range(5):
            port = free_port()
            argv = (a.replace("{port}", str(port)) for a in args)
            proc = self.run(name, *argv, port=port, **start)
            await wait_until(partial(listening_or_exited, proc, ready_path), 20.0, 0.05)
            if proc.popen.poll() is None:
                return proc
            if "address already in use" not in proc.log():
                raise AssertionError(f"{name} exited:\n{proc.log()[-3000:]}")
        raise AssertionError(f"{name}: no free port after 5 tries")

    async def upstream(self, *, latency_ms: float) -> Proc:
        proc = await self.listening(
            "upstream",
            *(
                "-m",
                "tests.support.fakeupstream",
                "--port",
                "{port}",
                "--latency-ms",
                str(latency_ms),
            ),
            ready_path="/_calls",
        )
        self.env["NAVER_API_BASE"] = f"{proc.url}/v1/search"
        return proc

    async def web(self, name: str, store_url: str, *extra: str) -> Proc:
        return await self.listening(
            name,
            *(
                "-m",
                "server",
                "serve",
                "--no-worker",
                "--no-key-check",
                "--store",
                store_url,
                "--port",
                "{port}",
            ),
            *extra,
            ready_path="/api/config",
        )

    def worker(self, name: str, store_url: str, *extra: str) -> Proc:
        return self.run(
            name, "-m", "server", "worker", "--no-key-check", "--store", store_url, *extra
        )


async def log_shows(proc: Proc, text: str, timeout_s: float = 15.0) -> None:
    def shows() -> bool:
        if proc.popen.poll() is not None and text not in proc.log():
            raise AssertionError(f"{proc.name} exited:\n{proc.log()[-3000:]}")
        return text in proc.log()

    await wait_until(shows, timeout_s=timeout_s, step_s=0.05)


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as resp:
        return resp.status, await resp.json()
