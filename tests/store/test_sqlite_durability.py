"""The embedded store is durable by default: every commit fsynced (synchronous=FULL), so an
acknowledged job survives a power cut; ``--sqlite-synchronous normal`` trades that away."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings
from server.store.sqlite import SqliteStore


@pytest.mark.parametrize(("mode", "pragma"), [(None, 2), ("full", 2), ("normal", 1)])
async def test_synchronous_mode(tmp_path: Path, mode: str | None, pragma: int) -> None:
    settings = Settings() if mode is None else Settings(sqlite_synchronous=mode)
    store = SqliteStore(f"sqlite:///{tmp_path}/d.db", settings)
    await store.open()
    try:
        got = await store._run(lambda: store.db.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        await store.close()
    assert got == pragma  # 2 = FULL, 1 = NORMAL
