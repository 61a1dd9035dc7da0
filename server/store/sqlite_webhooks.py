"""The webhook ledger of the SQLite store: a table beside the jobs, written on the store's one
writer thread like everything else (server.store.webhooks says what it keeps)."""

from __future__ import annotations

import sqlite3
from importlib import resources
from typing import Any

from server.codec import dumps, loads
from server.store.sqlite_access import SqliteAccess
from server.store.webhooks import PENDING, Delivery, WebhookLedger, shown_url

SCHEMA = resources.files("server.store").joinpath("sqlite_webhooks.sql").read_text(encoding="utf-8")
TERMINAL_SQL = "('completed', 'failed', 'cancelled')"


class SqliteWebhookLedger(WebhookLedger):
    def __init__(self, store: SqliteAccess) -> None:
        self._store = store
        self._ready = False

    async def _ensure(self) -> None:
        if not self._ready:
            await self._store._run(lambda: self._store.db.executescript(SCHEMA))
            self._ready = True

    async def register(self, job_id: str, url: str, now_ms: int) -> None:
        await self._ensure()

        def _register(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO webhooks (job_id, url, state, next_ms, created_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_id, url, PENDING, now_ms, now_ms),
            )

        await self._store._tx(_register)

    async def claim(self, node_id: str, now_ms: int, lease_ms: int) -> Delivery | None:
        await self._ensure()

        def _claim(db: sqlite3.Connection) -> Delivery | None:
            row = db.execute(
                "SELECT w.job_id, w.url, w.attempts FROM webhooks w JOIN jobs j ON j.id = w.job_id"
                f" WHERE w.state = 'pending' AND j.status IN {TERMINAL_SQL}"
                " AND w.next_ms <= ? AND w.lease_until_ms <= ? ORDER BY w.next_ms LIMIT 1",
                (now_ms, now_ms),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE webhooks SET lease_owner = ?, lease_until_ms = ? WHERE job_id = ?",
                (node_id, now_ms + lease_ms, row[0]),
            )
            return Delivery(row[0], row[1], len(loads(row[2])))

        return await self._store._tx(_claim)

    async def record(
        self, job_id: str, node_id: str, attempt: dict[str, Any], state: str, next_ms: int
    ) -> bool:
        await self._ensure()

        def _record(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT attempts FROM webhooks WHERE job_id = ? AND state = 'pending'"
                " AND lease_owner = ?",
                (job_id, node_id),
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "UPDATE webhooks SET attempts = ?, state = ?, next_ms = ?, lease_owner = NULL,"
                " lease_until_ms = 0 WHERE job_id = ?",
                (dumps([*loads(row[0]), attempt]), state, next_ms, job_id),
            )
            return True

        return await self._store._tx(_record)

    async def get(self, job_id: str) -> dict[str, Any] | None:
        await self._ensure()

        def _get() -> tuple[str, str, str] | None:
            row: tuple[str, str, str] | None = self._store.db.execute(
                "SELECT url, state, attempts FROM webhooks WHERE job_id = ?", (job_id,)
            ).fetchone()
            return row

        row = await self._store._run(_get)
        if row is None:
            return None
        return {"url": shown_url(row[0]), "state": row[1], "attempts": loads(row[2])}

    async def cleanup(self, now_ms: int) -> int:
        await self._ensure()

        def _cleanup(db: sqlite3.Connection) -> int:
            # A record a moment old may belong to a job being created right now: keep it.
            cur = db.execute(
                "DELETE FROM webhooks WHERE created_ms < ? AND job_id NOT IN (SELECT id FROM jobs)",
                (now_ms - 60_000,),
            )
            return cur.rowcount

        return await self._store._tx(_cleanup)
