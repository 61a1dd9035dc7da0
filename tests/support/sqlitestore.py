"""The embedded store as the SQLite-only store tests open it: a real file under the test's
temporary folder, and plain jobs of n keywords to fill it with."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from server.model import JobSpec, new_job_id, now_ms
from server.settings import Settings
from server.store.sqlite import SqliteStore


@contextlib.asynccontextmanager
async def open_sqlite(path: Path, settings: Settings | None = None) -> AsyncIterator[SqliteStore]:
    """An opened SqliteStore on ``path`` (``settings`` get its URL), closed at the end."""
    url = f"sqlite:///{path}"
    store = SqliteStore(url, replace(settings or Settings(), store_url=url))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def job_spec(n: int) -> JobSpec:
    """A blog job of keywords k0…k(n-1), created now."""
    created = now_ms()
    return JobSpec(
        id=new_job_id(created),
        keywords=tuple(f"k{i}" for i in range(n)),
        categories=("blog",),
        priority=1,
        created_ms=created,
        source="demo",
        client="c",
    )
