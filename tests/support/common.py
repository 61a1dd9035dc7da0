"""Helpers the tests share: the skip rule for missing services, bounded waiting, base settings."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.settings import NaverKey, Settings

REQUIRE_SERVICES = os.environ.get("DOCCOUNT_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Missing service: a skip on a developer's machine, a failure in CI. Every skip goes
    through here; tests/conftest.py also fails any other skip under the variable."""
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
        # Power-cut durability is not what these tests test, and an fsync per commit would make
        # the event-heavy ones crawl on a shared disk (test_sqlite_durability checks FULL).
        sqlite_synchronous="normal",
        # Tests count upstream calls exactly; those of the start-up key check are tested apart.
        check_keys=False,
        # Tests read job logs event by event; the health watch's events are tested apart.
        health_watch_s=0.0,
        # Tests of a keyword's error expect it at once; parking is tested apart (test_storm).
        storm_retry_s=0.0,
    )
    return replace(settings, **overrides)
