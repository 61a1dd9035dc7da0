"""Shared fixtures: a fake Naver upstream on a free port, settings pointing at it, and the app.

Only Naver is faked (it cannot be reached from here); the store is a real SQLite file, and the
redis fixtures (tests/redis_server.py) start a real redis-server.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.fakeupstream import FakeNaver
from server.settings import NaverKey, Settings

from .redis_server import redis_server, redis_url  # noqa: F401 (fixtures)

REQUIRE_SERVICES = os.environ.get("DOCCOUNT_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Missing service: a skip on a developer's machine, a failure in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (DOCCOUNT_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


async def wait_until(
    predicate: Callable[[], Awaitable[bool] | bool], timeout_s: float = 10.0, step_s: float = 0.01
) -> None:
    """Bounded poll of a condition; fails the test when it does not hold in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step_s)


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each engine in turn: a real SQLite file, then the session's real redis-server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
async def fake_naver() -> AsyncIterator[tuple[FakeNaver, str]]:
    fake = FakeNaver()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/v1/search"))
    await server.close()


def base_settings(tmp_path: Path, naver_base_url: str, **overrides: Any) -> Settings:
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/doccount.db",
        provider="naver",
        naver_keys=(NaverKey("test-id", "test-secret"),),
        naver_base_url=naver_base_url,
        rate_per_s=1000.0,
        retry_base_s=0.001,
        retry_max_s=0.01,
        request_timeout_s=2.0,
        progress_interval_s=3600.0,
        cleanup_interval_s=3600.0,
    )
    return replace(settings, **overrides)


@pytest.fixture
def settings(tmp_path: Path, fake_naver: tuple[FakeNaver, str]) -> Settings:
    return base_settings(tmp_path, fake_naver[1])


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[[Settings], Awaitable[TestClient[Any, Any]]]]:
    clients: list[TestClient[Any, Any]] = []

    async def _make(settings: Settings) -> TestClient[Any, Any]:
        app: web.Application = create_app(settings)
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield _make
    for client in clients:
        await client.close()
