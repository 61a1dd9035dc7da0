"""The daily counters of the distributed store (server/store/stats_base.py says what they are).

Keys (prefix ``dc:``):

    dc:sd:{day}      hash: "{metric}\\t{dim}" -> n, one per KST day; expires TTL_S after its
                     last bump, so days older than the window go by themselves
    dc:calls:{day}   hash: key client id -> upstream calls (the key registry's, redis_limits)

The job and result scripts (create.lua, record.lua) bump ``dc:sd:{day}`` in the same script
that creates the job or commits the result (``bump_stats`` in prelude.lua), with the arguments
made here; a repeated result index (a resumed job) bumps nothing, like it appends nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis

from server.errors import StoreUnavailableError
from server.store.redis_limits import is_unavailable
from server.store.stats_base import (
    CALLS,
    JOBS,
    STATS_DAYS,
    Bump,
    DayRow,
    StatsStore,
    result_bumps,
)

# A few days past the window: a day is still whole when it leaves the window.
TTL_S = (STATS_DAYS + 5) * 24 * 3600


def field(metric: str, dim: str) -> str:
    return f"{metric}\t{dim}"


class RedisStats(StatsStore):
    def __init__(self, r: aioredis.Redis, prefix: str) -> None:
        super().__init__()
        # redis-py's annotations cover bytes and str replies alike; this client decodes.
        self._r: Any = r
        self._days = f"{prefix}sd:"
        self._calls = f"{prefix}calls:"  # redis_limits.RedisKeyRegistry's

    def _args(self, bumps: Iterable[Bump]) -> list[str | int]:
        """A script's trailing ARGV for ``bump_stats``: the day's hash, its TTL, then pairs."""
        args: list[str | int] = [f"{self._days}{self.today()}", TTL_S]
        for b in bumps:
            args += [field(b.metric, b.dim), b.n]
        return args

    def created_args(self) -> list[str | int]:
        return self._args([Bump(JOBS, "", 1)])

    def recorded_args(self, result: Mapping[str, Any]) -> list[str | int]:
        return self._args(result_bumps(result))

    async def add(self, bumps: Iterable[Bump]) -> None:
        key = f"{self._days}{self.today()}"
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                for b in bumps:
                    pipe.hincrby(key, field(b.metric, b.dim), b.n)
                pipe.expire(key, TTL_S)
                await pipe.execute()
        except Exception as exc:
            if is_unavailable(exc):
                raise StoreUnavailableError(f"Redis unavailable: {exc}") from exc
            raise

    async def rows(self, first: int, last: int) -> list[DayRow]:
        days = range(first, last + 1)
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for day in days:
                    pipe.hgetall(f"{self._days}{day}")
                    pipe.hgetall(f"{self._calls}{day}")
                replies = await pipe.execute()
        except Exception as exc:
            if is_unavailable(exc):
                raise StoreUnavailableError(f"Redis unavailable: {exc}") from exc
            raise
        out: list[DayRow] = []
        for i, day in enumerate(days):
            for name, n in replies[2 * i].items():
                metric, _, dim = name.partition("\t")
                out.append(DayRow(day, metric, dim, int(n)))
            out += [DayRow(day, CALLS, key, int(n)) for key, n in replies[2 * i + 1].items()]
        return out

    async def prune(self, before_day: int) -> int:
        return 0  # each day's hash expires TTL_S after its last bump
