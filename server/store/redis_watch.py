"""Watchlists in the distributed store.

dc:wl:{id}             hash: field -> JSON value (a change sets only its fields: atomic)
dc:wl                  zset: watchlist ids by creation time
dc:wlrun:{id}:{due}    string, SET NX: the run of that due time is claimed (kept 30 days;
                       past that the watchlist's lastDueAt already rules the run out)
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from server.codec import dumps, loads
from server.store.redis_history import unavailable
from server.store.watch_base import WatchStore

INDEX = "dc:wl"
RUN_KEEP_MS = 30 * 86_400_000
# Sets fields only on a watchlist that still exists (a run finishing after a delete).
UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


def key(watchlist_id: str) -> str:
    return f"{INDEX}:{watchlist_id}"


def decode(raw: dict[str, str]) -> dict[str, Any]:
    return {k: loads(v) for k, v in raw.items()}


class RedisWatch(WatchStore):
    def __init__(self, r: aioredis.Redis) -> None:
        self._r: Any = r
        self._update = r.register_script(UPDATE)

    async def create(self, watchlist: dict[str, Any]) -> None:
        with unavailable():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(key(watchlist["id"]), mapping={k: dumps(v) for k, v in watchlist.items()})
                pipe.zadd(INDEX, {watchlist["id"]: watchlist["createdAt"]})
                await pipe.execute()

    async def get(self, watchlist_id: str) -> dict[str, Any] | None:
        with unavailable():
            raw = await self._r.hgetall(key(watchlist_id))
        return decode(raw) if raw else None

    async def list(self) -> list[dict[str, Any]]:
        with unavailable():
            ids = await self._r.zrange(INDEX, 0, -1)
            async with self._r.pipeline(transaction=False) as pipe:
                for watchlist_id in ids:
                    pipe.hgetall(key(watchlist_id))
                rows = await pipe.execute()
        return [decode(raw) for raw in rows if raw]

    async def update(self, watchlist_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        args: list[str] = []
        for k, v in fields.items():
            args += [k, dumps(v)]
        with unavailable():
            if not await self._update(keys=[key(watchlist_id)], args=args):
                return None
        return await self.get(watchlist_id)

    async def delete(self, watchlist_id: str) -> bool:
        with unavailable():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(key(watchlist_id))
                pipe.zrem(INDEX, watchlist_id)
                deleted, _ = await pipe.execute()
        return bool(deleted)

    async def claim_run(self, watchlist_id: str, due_ms: int) -> bool:
        with unavailable():
            return bool(
                await self._r.set(f"dc:wlrun:{watchlist_id}:{due_ms}", 1, nx=True, px=RUN_KEEP_MS)
            )
