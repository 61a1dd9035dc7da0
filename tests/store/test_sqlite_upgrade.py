"""A file made by an earlier version opens with what this one needs: failedCount counted from
the results already stored (issue 11.6); jobs from before job names read with ``name: null``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server.model import COMPLETED, JobSpec, new_job_id, now_ms
from server.settings import Settings
from server.store import store_from_url
from server.store.sqlite import SCHEMA, SqliteStore


async def test_failed_count_of_jobs_from_before_it_existed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    store = store_from_url(url, Settings(store_url=url))
    await store.open()
    created = now_ms()
    spec = JobSpec(new_job_id(created), ("a", "b"), ("blog",), 1, created, "naver", "c1")
    await store.create_job(spec)
    await store.claim_next("w1", 0)
    ok = {"keyword": "a", "counts": {"blog": 1}, "source": "naver", "cached": [], "error": None}
    bad = {**ok, "keyword": "b", "counts": {}, "error": "실패"}
    await store.record_result(spec.id, 0, {"index": 0, **ok}, "w1")
    await store.record_result(spec.id, 1, {"index": 1, **bad}, "w1")
    await store.finish(spec.id, COMPLETED, None, "w1")
    await store.close()
    with sqlite3.connect(path) as db:  # as the earlier version left it
        db.execute("ALTER TABLE jobs DROP COLUMN failed")

    again = store_from_url(url, Settings(store_url=url))
    await again.open()
    try:
        job = await again.get_job(spec.id)
        assert job is not None and job["failedCount"] == 1
    finally:
        await again.close()


async def test_file_without_the_name_column_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_schema = SCHEMA.replace("    name TEXT,\n", "")
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
