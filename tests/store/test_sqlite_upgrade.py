"""A SQLite file from before job names (and the volume cache) opens, and its jobs read as
before with ``name: null``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server.settings import Settings
from server.store.sqlite import SCHEMA, SqliteStore


async def test_file_without_the_name_column_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_schema = SCHEMA.replace(",\n    name TEXT\n", "\n")
    assert old_schema != SCHEMA
    conn = sqlite3.connect(path)
    conn.executescript(old_schema)
    conn.execute(
        "INSERT INTO jobs (id, status, priority, keywords, categories, total, created_at, "
        "source, client) VALUES ('batch_1700000000000_AAAAAAAAAAAAAAAAAAAAAA', 'completed', "
        "1, '[\"a\"]', '[\"blog\"]', 1, 1700000000000, 'naver', 'x')"
    )
    conn.commit()
    conn.close()
    store = SqliteStore(f"sqlite:///{path}", Settings())
    await store.open()
    try:
        job = await store.get_job("batch_1700000000000_AAAAAAAAAAAAAAAAAAAAAA")
        assert job is not None and job["name"] is None and job["status"] == "completed"
    finally:
        await store.close()
