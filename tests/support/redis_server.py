"""A real ``redis-server`` per test session, on a free port, in a temp dir, never the system one.

``RedisServer`` is also used directly by tests that stop and restart their own server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis

from tests.support.processes import free_port

REDIS_BIN = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
)


class RedisServer:
    def __init__(self, directory: Path, port: int | None = None, *, persist: bool = False) -> None:
        assert REDIS_BIN is not None
        self.directory = directory
        self.port = port or free_port()
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def args(self) -> Sequence[str]:
        assert REDIS_BIN is not None
        base = [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        base += ["--dir", str(self.directory), "--daemonize", "no", "--loglevel", "warning"]
        if self.persist:
            # Every write is on disk before Redis answers it: a kill loses nothing acknowledged.
            return [*base, "--appendonly", "yes", "--appendfsync", "always"]
        return [*base, "--appendonly", "no"]

    def start(self, timeout_s: float = 10.0) -> None:
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 (lives with the process)
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=1.0)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self.directory / 'redis.log'}")
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                    if client.ping():
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not answer in time")
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def flush(self) -> None:
        client = redis.Redis(port=self.port)
        try:
            client.flushall()
        finally:
            client.close()


def start_on_a_free_port(directory: Path, *, persist: bool = False) -> RedisServer:
    """A port probed free can be taken before redis-server binds it: then try another."""
    for _ in range(5):
        server = RedisServer(directory, persist=persist)
        try:
            server.start()
            return server
        except RuntimeError:
            server.kill()
            if "Address already in use" not in (directory / "redis.log").read_text():
                raise
    raise RuntimeError("redis-server: no free port after 5 tries")


def require_redis() -> None:
    from tests.support.common import skip_or_fail  # conftest imports this module's fixtures

    if REDIS_BIN is None:
        skip_or_fail("redis-server is not installed (apt-get install redis-server)")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_redis()
    server = start_on_a_free_port(tmp_path_factory.mktemp("redis"))
    yield server
    server.kill(signal.SIGTERM)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A clean database of the session's server."""
    redis_server.flush()
    return redis_server.url
