"""A full disk on SQLite is a store outage, like Redis being away: submissions get 503
store_unavailable with Retry-After, /readyz is not ready, the running job waits and completes
once there is room again. "Full" is real: SQLite's own max_page_count makes every write that
needs a new page fail with "database or disk is full"."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import STORE
from server.store.sqlite import SqliteStore
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver, fake_total

KEYWORDS = [f"{i:03d} " + "긴 키워드 " * 12 for i in range(80)]


async def set_max_pages(store: SqliteStore, pages: int | None) -> int:
    """Cap the file at its current size and use up its free pages (None), or lift the cap to
    ``pages``. Without the filling, pages the job frees as it rewrites its rows let a small
    write through now and then, and readiness would flap between two requests of the test."""

    def _set() -> int:
        db = store.db
        if pages is None:
            db.execute("CREATE TABLE IF NOT EXISTS test_filler (b BLOB)")
            current = db.execute("PRAGMA page_count").fetchone()[0]
            capped = int(db.execute(f"PRAGMA max_page_count = {current}").fetchone()[0])
            while True:
                try:
                    db.execute("INSERT INTO test_filler VALUES (zeroblob(1024))")
                except sqlite3.OperationalError as exc:
                    assert "full" in str(exc), exc
                    return capped
        return int(db.execute(f"PRAGMA max_page_count = {pages}").fetchone()[0])

    return await store._run(_set)


async def test_a_full_disk_is_an_outage_and_the_job_resumes(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    fake, base = fake_naver
    fake.latency_s = 0.02
    settings = replace(base_settings(tmp_path, base), keyword_concurrency=2)
    client = await make_client(settings)
    store = client.app[STORE]
    assert isinstance(store, SqliteStore)

    resp = await client.post(
        "/api/documents/batch", json={"keywords": KEYWORDS, "categories": ["blog"]}
    )
    job_id = (await resp.json())["jobId"]

    async def job() -> dict[str, Any]:
        resp = await client.get(f"/api/documents/status?jobId={job_id}")
        body: dict[str, Any] = (await resp.json())["job"]
        return body

    async def progressed() -> bool:
        return (await job())["progress"]["current"] >= 2

    await wait_until(progressed)
    await set_max_pages(store, None)

    async def not_ready() -> bool:
        resp = await client.get("/readyz")
        if resp.status != 503:
            return False
        assert (await resp.json())["checks"]["store"] == "unavailable"
        return True

    await wait_until(not_ready, timeout_s=20)
    assert await not_ready()  # and it stays so while the disk is full
    resp = await client.post("/api/documents/batch", json={"keywords": KEYWORDS})
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    assert (await resp.json())["code"] == "store_unavailable"
    stuck = await job()
    assert stuck["status"] == "processing" and stuck["progress"]["current"] < len(KEYWORDS)

    await set_max_pages(store, 1_000_000)  # room again

    async def completed() -> bool:
        return (await job())["status"] == "completed"

    await wait_until(completed, timeout_s=30)
    done = await job()
    assert [r["keyword"] for r in done["results"]] == [" ".join(k.split()) for k in KEYWORDS]
    assert [r["counts"] for r in done["results"]] == [
        {"blog": fake_total(" ".join(k.split()), "blog")} for k in KEYWORDS
    ]
    assert all(r["error"] is None for r in done["results"])
    assert (await client.get("/readyz")).status == 200
    resp = await client.post("/api/documents/batch", json={"keywords": ["다시"]})
    assert resp.status == 200
