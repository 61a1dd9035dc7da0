"""Watchlists in the embedded store (tables in sqlite_schema.sql), on the writer thread."""

from __future__ import annotations

import sqlite3
from typing import Any

from server.codec import dumps, loads
from server.store.sqlite_access import SqliteAccess
from server.store.watch_base import WatchStore


class SqliteWatch(WatchStore):
    def __init__(self, store: SqliteAccess) -> None:
        self._store = store

    async def create(self, watchlist: dict[str, Any]) -> None:
        def _create(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO watchlists (id, created_at, data) VALUES (?, ?, ?)",
                (watchlist["id"], watchlist["createdAt"], dumps(watchlist)),
            )

        await self._store._tx(_create)

    async def get(self, watchlist_id: str) -> dict[str, Any] | None:
        def _get() -> dict[str, Any] | None:
            row = self._store.db.execute(
                "SELECT data FROM watchlists WHERE id = ?", (watchlist_id,)
            ).fetchone()
            return None if row is None else dict(loads(row[0]))

        return await self._store._run(_get)

    async def list(self) -> list[dict[str, Any]]:
        def _list() -> list[dict[str, Any]]:
            rows = self._store.db.execute(
                "SELECT data FROM watchlists ORDER BY created_at, id"
            ).fetchall()
            return [dict(loads(r[0])) for r in rows]

        return await self._store._run(_list)

    async def update(self, watchlist_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        def _update(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute("SELECT data FROM watchlists WHERE id = ?", (watchlist_id,)).fetchone()
            if row is None:
                return None
            data = {**loads(row[0]), **fields}
            db.execute("UPDATE watchlists SET data = ? WHERE id = ?", (dumps(data), watchlist_id))
            return data

        return await self._store._tx(_update)

    async def delete(self, watchlist_id: str) -> bool:
        def _delete(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM watch_runs WHERE watchlist_id = ?", (watchlist_id,))
            return db.execute("DELETE FROM watchlists WHERE id = ?", (watchlist_id,)).rowcount > 0

        return await self._store._tx(_delete)

    async def claim_run(self, watchlist_id: str, due_ms: int) -> bool:
        def _claim(db: sqlite3.Connection) -> bool:
            return (
                db.execute(
                    "INSERT OR IGNORE INTO watch_runs (watchlist_id, due_at) VALUES (?, ?)",
                    (watchlist_id, due_ms),
                ).rowcount
                > 0
            )

        return await self._store._tx(_claim)
