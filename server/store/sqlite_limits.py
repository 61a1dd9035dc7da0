"""In-process pacing and key retirement, used by the embedded store.

The limiter is a token bucket of capacity one, kept as "the next free slot" per key: each
caller reserves the next slot and sleeps until it. Reservation order is call order, so waiters
are served first come, first served; that is what lets a small job interleave with a big one.
"""

from __future__ import annotations

import asyncio
import time


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
    def __init__(self) -> None:
        self._until_ms: dict[str, int | None] = {}
        self._day = -1
        self._calls: dict[str, int] = {}

    async def retire(self, key: str, until_ms: int | None, reason: str) -> None:
        self._until_ms[key] = until_ms

    async def retired(self) -> dict[str, int | None]:
        now_ms = int(time.time() * 1000)
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
