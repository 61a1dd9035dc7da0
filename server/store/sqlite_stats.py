"""The daily counters of the embedded store: the ``stats_daily`` table (sqlite_stats.sql).

The engine calls ``created`` and ``recorded`` inside the transaction that inserts the job or
the result, so a counter is never ahead of or behind what it counts. Every statement is in
``QUERIES``: tests/store/test_sqlite_plans.py checks each one's plan uses the primary key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from server.store.sqlite_access import SqliteAccess
from server.store.stats_base import CALLS, JOBS, Bump, DayRow, StatsStore, result_bumps

SCHEMA = resources.files("server.store").joinpath("sqlite_stats.sql").read_text(encoding="utf-8")

QUERIES = {
    "bump": (
        "INSERT INTO stats_daily (day, metric, dim, n) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (day, metric, dim) DO UPDATE SET n = n + excluded.n"
    ),
    "rows": "SELECT day, metric, dim, n FROM stats_daily WHERE day BETWEEN ? AND ?",
    # The key registry's per-day counters (sqlite_limits), kept for the window by the cleanup.
    "calls": "SELECT day, key, n FROM key_calls WHERE day BETWEEN ? AND ?",
    "prune": "DELETE FROM stats_daily WHERE day < ?",
}


def bump(db: sqlite3.Connection, day: int, bumps: Iterable[Bump]) -> None:
    db.executemany(QUERIES["bump"], [(day, b.metric, b.dim, b.n) for b in bumps])


class SqliteStats(StatsStore):
    def __init__(self, store: SqliteAccess) -> None:
        super().__init__()
        self._store = store

    def create(self, db: sqlite3.Connection) -> None:
        """At open, on the store's thread, before any write can bump."""
        db.executescript(SCHEMA)

    def created(self, db: sqlite3.Connection) -> None:
        """A job was inserted (in the caller's transaction)."""
        bump(db, self.today(), [Bump(JOBS, "", 1)])

    def recorded(self, db: sqlite3.Connection, result: Mapping[str, Any]) -> None:
        """A result was inserted (not a repeat of a committed index; in the caller's
        transaction)."""
        bump(db, self.today(), result_bumps(result))

    async def add(self, bumps: Iterable[Bump]) -> None:
        day, rows = self.today(), list(bumps)
        await self._store._tx(lambda db: bump(db, day, rows))

    async def rows(self, first: int, last: int) -> list[DayRow]:
        def _rows(db: sqlite3.Connection) -> list[DayRow]:
            out = [DayRow(*r) for r in db.execute(QUERIES["rows"], (first, last))]
            out += [
                DayRow(d, CALLS, k, n) for d, k, n in db.execute(QUERIES["calls"], (first, last))
            ]
            return out

        return await self._store._run(lambda: _rows(self._store.db))

    async def prune(self, before_day: int) -> int:
        def _prune(db: sqlite3.Connection) -> int:
            return db.execute(QUERIES["prune"], (before_day,)).rowcount

        return await self._store._tx(_prune)
