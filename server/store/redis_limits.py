"""The upstream pacer and the key retirements of the Redis store, shared by every worker.

With several worker processes on one Naver key, an in-process limiter per process would let
N processes together make N times the key's rate. Here the "next free slot" of each key lives
in Redis and is reserved by a Lua script on the Redis clock (redis_scripts.ACQUIRE), so all
workers together stay within the rate, served in the order their reservations arrive.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from server import model
from server.errors import StoreUnavailableError
from server.store.redis_scripts import ACQUIRE, PENALIZE, RETIRE
from server.store.stats_base import STATS_DAYS

log = logging.getLogger("doccount.redis")

# Kept for /api/stats' window of calls per key per day (and a few days more).
USAGE_TTL_S = (STATS_DAYS + 5) * 24 * 3600
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0


def is_unavailable(exc: BaseException) -> bool:
    """Errors that mean "Redis cannot be reached right now", as opposed to a bug."""
    import redis.exceptions as rx

    return isinstance(exc, rx.ConnectionError | rx.TimeoutError | OSError | StoreUnavailableError)


class RedisRateLimiter:
    def __init__(self, client: aioredis.Redis, prefix: str, rate_per_s: float) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        self.interval_us = max(1, round(1_000_000 / rate_per_s))
        self._prefix = prefix
        self._acquire: AsyncScript = client.register_script(ACQUIRE)
        self._penalize: AsyncScript = client.register_script(PENALIZE)

    def _key(self, key: str) -> str:
        return f"{self._prefix}rl:{key}"

    async def acquire(self, key: str) -> float:
        """Reserve the next slot; while Redis is down, wait for it (pacing locally instead
        would let every worker run at the full rate at once)."""
        started = time.monotonic()
        delay_s = RETRY_FIRST_S
        while True:
            try:
                wait_us = int(await self._acquire(keys=[self._key(key)], args=[self.interval_us]))
                break
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("rate limiter: Redis unavailable (%s); retry in %.1fs", exc, delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)
        if wait_us > 0:
            await asyncio.sleep(wait_us / 1_000_000)
        return time.monotonic() - started

    async def penalize(self, key: str, delay_s: float) -> None:
        try:
            await self._penalize(keys=[self._key(key)], args=[max(0, round(delay_s * 1e6))])
        except Exception as exc:
            # The caller backs off anyway; a lost penalty only makes the others less careful.
            if not is_unavailable(exc):
                raise
            log.warning("rate limiter: penalty not recorded, Redis unavailable (%s)", exc)


class RedisKeyRegistry:
    """Retired keys in a sorted set scored by ``until_ms`` (+inf: for good), so expired
    retirements fall out by score. While Redis is down, the last known set (plus any
    retirements made meanwhile) is used, so a worker does not hammer a dead key."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._key = f"{prefix}retired"
        self._reasons = f"{prefix}retired:why"
        self._calls_prefix = f"{prefix}calls:"
        self._known: dict[str, int | None] = {}
        self._retire: AsyncScript = client.register_script(RETIRE)

    async def retire(self, key: str, until_ms: int | None, reason: str) -> None:
        score = "+inf" if until_ms is None else str(until_ms)
        self._known[key] = until_ms
        try:
            await self._retire(keys=[self._key, self._reasons], args=[key, score, reason])
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("key registry: retirement kept locally, Redis unavailable (%s)", exc)

    async def retired(self) -> dict[str, int | None]:
        now_ms = model.now_ms()
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(self._key, "-inf", now_ms)
                pipe.zrange(self._key, 0, -1, withscores=True)
                _, rows = await pipe.execute()
            self._known = {str(k): (None if math.isinf(score) else int(score)) for k, score in rows}
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("key registry: Redis unavailable (%s); using last known", exc)
        self._known = {k: u for k, u in self._known.items() if u is None or u > now_ms}
        return dict(self._known)

    async def clear(self) -> list[str]:
        cleared = sorted(await self.retired())
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key)
            pipe.delete(self._reasons)
            await pipe.execute()
        self._known = {}
        return cleared

    async def reasons(self) -> dict[str, str]:
        retired = await self.retired()
        try:
            rows = await self._client.hgetall(self._reasons)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            return {}
        return {_text(k): _text(v) for k, v in rows.items() if _text(k) in retired}

    async def record_call(self, key: str, day: int) -> None:
        counter = f"{self._calls_prefix}{day}"
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hincrby(counter, key, 1)
                pipe.expire(counter, USAGE_TTL_S)
                await pipe.execute()
        except Exception as exc:
            # Usage figures are advisory: a lost increment must not fail the lookup.
            if not is_unavailable(exc):
                raise
            log.debug("key usage not recorded, Redis unavailable (%s)", exc)

    async def calls_on(self, day: int) -> dict[str, int]:
        try:
            rows = await self._client.hgetall(f"{self._calls_prefix}{day}")
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            raise StoreUnavailableError(str(exc)) from None
        return {_text(k): int(v) for k, v in rows.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
