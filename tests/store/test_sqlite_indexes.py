"""Per-submission queries look up one client's jobs, not every queued job."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server.store.sqlite import SCHEMA


def test_count_queued_uses_the_client_index(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "plan.db")
    db.executescript(SCHEMA)
    plan = " ".join(
        row[-1]
        for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM jobs WHERE client = ? AND status IN "
            "('pending', 'processing')",
            ("127.0.0.1",),
        )
    )
    db.close()
    assert "jobs_client" in plan, plan
