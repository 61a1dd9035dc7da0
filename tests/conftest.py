"""Shared fixtures: a fake Naver upstream on a free port, settings pointing at it, and the app.

Only Naver is faked (it cannot be reached from here); the store is a real SQLite file, and the
redis fixtures (tests/redis_server.py) start a real redis-server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.api.app import create_app
from server.settings import Settings
from tests.support.common import REQUIRE_SERVICES, base_settings
from tests.support.fakesearchad import FakeSearchAd
from tests.support.fakeupstream import FakeNaver
from tests.support.redis_server import redis_server, redis_url  # noqa: F401 (fixtures)


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
    fake.release()  # a test that paused it lets its held calls finish
    await server.close()


@pytest.fixture
async def fake_ad() -> AsyncIterator[tuple[FakeSearchAd, str]]:
    """The fake Search Ad keyword tool and its base URL (``--ad-api-base``)."""
    fake = FakeSearchAd()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


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


# Tiers: each folder under tests/ is a marker (unit, store, live, api, procs, browser), so
# `pytest -m "not browser and not procs"` (make test-fast) runs what needs no browser and no
# extra service process.
TIERS = ("unit", "store", "live", "api", "procs", "browser")


def _as_failure(report: pytest.CollectReport | pytest.TestReport) -> None:
    """DOCCOUNT_REQUIRE_SERVICES=1: a skip from anywhere (not only skip_or_fail) fails, with
    its reason, so a run that should exercise everything cannot quietly leave a part out."""
    if not (REQUIRE_SERVICES and report.skipped) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under DOCCOUNT_REQUIRE_SERVICES=1: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    outcome = yield
    _as_failure(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None]:
    outcome = yield
    _as_failure(outcome.get_result())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
