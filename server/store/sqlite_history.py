"""Keyword history in the embedded store (tables in sqlite_schema.sql).

Writes go through the store's writer thread like every other write; reads too (they are index
range reads of a few pages). Every request-path statement is in ``QUERIES`` so that
tests/store/test_history_plans.py can check each one's plan uses an index.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from server.codec import loads
from server.history import (
    CONTAINS_CANDIDATES_MAX,
    Observation,
    bigrams,
    initials,
    is_initials_query,
    normalise,
)
from server.store.history_base import HistoryStore
from server.store.sqlite_access import SqliteAccess

# Past every character a keyword can hold: ``x >= q AND x < q || TOP`` is a prefix range.
TOP = "\U0010ffff"

QUERIES = {
    "keyword_id": "SELECT id FROM keywords WHERE keyword = ?",
    "recent": (
        "SELECT value, provider, observed_at FROM observations "
        "WHERE keyword_id = ? AND kind = ? ORDER BY observed_at DESC LIMIT ?"
    ),
    "series": (
        "SELECT value, provider, observed_at FROM observations WHERE keyword_id = ? AND "
        "kind = ? AND observed_at BETWEEN ? AND ? ORDER BY observed_at DESC LIMIT ?"
    ),
    "kinds": "SELECT latest FROM keywords WHERE id = ?",
    "prefix": (
        "SELECT keyword, last_at, latest FROM keywords WHERE keyword >= ? AND keyword < ? "
        "ORDER BY keyword LIMIT ?"
    ),
    "initials": (
        "SELECT keyword, last_at, latest FROM keywords WHERE initials >= ? AND initials < ? "
        "ORDER BY initials, keyword LIMIT ?"
    ),
    # The candidates come from one gram's index range, bounded; the filter runs on those only.
    "contains": (
        "SELECT k.keyword, k.last_at, k.latest FROM "
        "(SELECT keyword_id FROM keyword_grams WHERE gram = ? LIMIT ?) AS g "
        "JOIN keywords AS k ON k.id = g.keyword_id "
        "WHERE instr(k.keyword, ?) > 0 AND NOT (k.keyword >= ? AND k.keyword < ?) "
        "ORDER BY k.keyword LIMIT ?"
    ),
}


def latest_json(raw: str) -> dict[str, Any]:
    return {
        kind: {"value": v[0], "observedAt": v[1], "provider": v[2]}
        for kind, v in loads(raw).items()
    }


def found(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{"keyword": k, "lastObservedAt": at, "latest": latest_json(raw)} for k, at, raw in rows]


class SqliteHistory(HistoryStore):
    def __init__(self, store: SqliteAccess) -> None:
        self._store = store

    async def add(
        self, keyword: str, kind: str, value: int, provider: str, observed_ms: int
    ) -> None:
        key = normalise(keyword)
        path = '$."' + kind.replace('"', "") + '"'

        def _add(db: sqlite3.Connection) -> None:
            row = db.execute(QUERIES["keyword_id"], (key,)).fetchone()
            if row is None:
                kid = db.execute(
                    "INSERT INTO keywords (keyword, initials, last_at) VALUES (?, ?, ?)",
                    (key, initials(key), observed_ms),
                ).lastrowid
                db.executemany(
                    "INSERT OR IGNORE INTO keyword_grams (gram, keyword_id) VALUES (?, ?)",
                    [(g, kid) for g in bigrams(key)],
                )
            else:
                kid = row[0]
            db.execute(
                "INSERT INTO observations (keyword_id, kind, observed_at, value, provider) "
                "VALUES (?, ?, ?, ?, ?)",
                (kid, kind, observed_ms, value, provider),
            )
            # Latest of its kind unless a newer one is already there (two jobs racing).
            db.execute(
                "UPDATE keywords SET last_at = max(last_at, ?), latest = CASE "
                "WHEN coalesce(json_extract(latest, ? || '[1]'), 0) <= ? "
                "THEN json_set(latest, ?, json_array(?, ?, ?)) ELSE latest END WHERE id = ?",
                (observed_ms, path, observed_ms, path, value, observed_ms, provider, kid),
            )

        await self._store._tx(_add)

    def _kid(self, db: sqlite3.Connection, keyword: str) -> int | None:
        row = db.execute(QUERIES["keyword_id"], (normalise(keyword),)).fetchone()
        return None if row is None else int(row[0])

    async def recent(
        self, keyword: str, kinds: tuple[str, ...], per_kind: int
    ) -> dict[str, list[Observation]]:
        def _recent() -> dict[str, list[Observation]]:
            db = self._store.db
            kid = self._kid(db, keyword)
            if kid is None:
                return {}
            return {
                kind: [
                    Observation(kind, v, p, at)
                    for v, p, at in db.execute(QUERIES["recent"], (kid, kind, per_kind))
                ]
                for kind in kinds
            }

        return await self._store._run(_recent)

    async def series(
        self, keyword: str, kinds: tuple[str, ...] | None, from_ms: int, to_ms: int, limit: int
    ) -> list[Observation]:
        def _series() -> list[Observation]:
            db = self._store.db
            kid = self._kid(db, keyword)
            if kid is None:
                return []
            wanted = kinds
            if wanted is None:
                (raw,) = db.execute(QUERIES["kinds"], (kid,)).fetchone()
                wanted = tuple(sorted(loads(raw)))
            out: list[Observation] = []
            for kind in wanted:
                rows = db.execute(QUERIES["series"], (kid, kind, from_ms, to_ms, limit)).fetchall()
                out.extend(Observation(kind, v, p, at) for v, p, at in reversed(rows))
            return out

        return await self._store._run(_series)

    async def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        q = normalise(query)

        def _search() -> list[dict[str, Any]]:
            db = self._store.db
            if is_initials_query(q):
                return found(db.execute(QUERIES["initials"], (q, q + TOP, limit)).fetchall())
            rows = db.execute(QUERIES["prefix"], (q, q + TOP, limit)).fetchall()
            if len(rows) < limit and len(q) >= 2:
                rows += db.execute(
                    QUERIES["contains"],
                    (q[:2], CONTAINS_CANDIDATES_MAX, q, q, q + TOP, limit - len(rows)),
                ).fetchall()
            return found(rows)

        if not q:
            return []
        return await self._store._run(_search)

    async def prune(self, cutoff_ms: int, batch: int) -> int:
        def _prune(db: sqlite3.Connection) -> int:
            (last_id,) = db.execute(
                "SELECT max(id) FROM (SELECT id FROM observations ORDER BY id LIMIT ?)", (batch,)
            ).fetchone()
            removed = 0
            if last_id is not None:
                removed = db.execute(
                    "DELETE FROM observations WHERE id <= ? AND observed_at < ?",
                    (last_id, cutoff_ms),
                ).rowcount
            gone = db.execute(
                "SELECT id, keyword FROM keywords WHERE last_at < ? LIMIT ?", (cutoff_ms, batch)
            ).fetchall()
            for kid, key in gone:
                db.executemany(
                    "DELETE FROM keyword_grams WHERE gram = ? AND keyword_id = ?",
                    [(g, kid) for g in bigrams(key)],
                )
                db.execute("DELETE FROM keywords WHERE id = ?", (kid,))
            return removed

        return await self._store._tx(_prune)
