"""In-process pacing, and key retirements and quota use kept in the SQLite file (embedded store).

The limiter is a token bucket of capacity one, kept as "the next free slot" per key: each
caller reserves the next slot and sleeps until it. Reservation order is call order, so waiters
are served first come, first served; that is what lets a small job interleave with a big one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

from server import model

# On the store's thread: run ``fn(db)`` in one transaction.
Transact = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]


class LocalRateLimiter:
    def __init__(self, rate_per_s: float) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        self.interval_s = 1.0 / rate_per_s
        self._next_slot: dict[str, float] = {}

    async def acquire(self, key: str) -> float:
        now = time.monotonic()
        slot = max(now, self._next_slot.get(key, now))
        self._next_slot[key] = slot + self.interval_s
        wait_s = slot - now
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        return wait_s

    async def penalize(self, key: str, delay_s: float) -> None:
        now = time.monotonic()
        self._next_slot[key] = max(self._next_slot.get(key, now), now + delay_s)


class LocalKeyRegistry:
    """In memory only: for a provider used without a store (tests, tools)."""

    def __init__(self) -> None:
        self._until_ms: dict[str, int | None] = {}
        self._reasons: dict[str, str] = {}
        self._day = -1
        self._calls: dict[str, int] = {}

    async def retire(self, key: str, until_ms: int | None, reason: str) -> None:
        self._until_ms[key] = until_ms
        self._reasons[key] = reason

    async def reasons(self) -> dict[str, str]:
        return {k: self._reasons[k] for k in await self.retired() if k in self._reasons}

    async def retired(self) -> dict[str, int | None]:
        now_ms = model.now_ms()
        live = {k: u for k, u in self._until_ms.items() if u is None or u > now_ms}
        self._until_ms = live
        return dict(live)

    async def clear(self) -> list[str]:
        cleared = sorted(await self.retired())
        self._until_ms = {}
        return cleared

    async def record_call(self, key: str, day: int) -> None:
        if day != self._day:
            self._day, self._calls = day, {}
        self._calls[key] = self._calls.get(key, 0) + 1

    async def calls_on(self, day: int) -> dict[str, int]:
        return dict(self._calls) if day == self._day else {}


def later_until(old: int | None, new: int | None) -> int | None:
    """A retirement for good (None) is never shortened by a later one until a time."""
    return None if old is None or new is None else max(old, new)


class SqliteKeyRegistry:
    """Retirements (with reason and until when) and calls per key per KST day, in the file, so a
    restart remembers them. Only this process writes the file: reads come from a mirror loaded at
    open (the provider asks which keys are retired before every call); writes go through."""

    def __init__(self, transact: Transact) -> None:
        self._tx = transact
        self._until_ms: dict[str, int | None] = {}
        self._reasons: dict[str, str] = {}

    def load(self, db: sqlite3.Connection) -> None:
        """On the store's thread, at open."""
        rows = db.execute("SELECT key, until_ms, reason FROM key_retired").fetchall()
        self._until_ms = {k: u for k, u, _ in rows}
        self._reasons = {k: r for k, _, r in rows}

    async def retire(self, key: str, until_ms: int | None, reason: str) -> None:
        until = later_until(self._until_ms[key], until_ms) if key in self._until_ms else until_ms
        if key not in self._until_ms or until != self._until_ms[key]:
            self._reasons[key] = reason
        self._until_ms[key] = until
        row = (key, until, self._reasons[key], model.now_ms())

        def _write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO key_retired (key, until_ms, reason, at_ms) "
                "VALUES (?, ?, ?, ?)",
                row,
            )

        await self._tx(_write)

    async def retired(self) -> dict[str, int | None]:
        now_ms = model.now_ms()
        expired = [k for k, u in self._until_ms.items() if u is not None and u <= now_ms]
        if expired:
            for key in expired:
                del self._until_ms[key]
                self._reasons.pop(key, None)

            def _forget(db: sqlite3.Connection) -> None:
                db.execute(
                    "DELETE FROM key_retired WHERE until_ms IS NOT NULL AND until_ms <= ?",
                    (now_ms,),
                )

            await self._tx(_forget)
        return dict(self._until_ms)

    async def reasons(self) -> dict[str, str]:
        return {k: self._reasons[k] for k in await self.retired() if k in self._reasons}

    async def clear(self) -> list[str]:
        """An operator's call: every retirement lifted, in the file too."""
        cleared = sorted(await self.retired())
        self._until_ms, self._reasons = {}, {}

        def _clear(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM key_retired")

        await self._tx(_clear)
        return cleared

    async def record_call(self, key: str, day: int) -> None:
        def _count(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO key_calls (day, key, n) VALUES (?, ?, 1) "
                "ON CONFLICT (day, key) DO UPDATE SET n = n + 1",
                (day, key),
            )

        await self._tx(_count)

    async def calls_on(self, day: int) -> dict[str, int]:
        def _read(db: sqlite3.Connection) -> dict[str, int]:
            rows = db.execute("SELECT key, n FROM key_calls WHERE day = ?", (day,)).fetchall()
            return {k: n for k, n in rows}

        result: dict[str, int] = await self._tx(_read)
        return result
