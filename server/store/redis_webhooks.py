"""The webhook ledger of the Redis store, shared by every node (server.store.webhooks says
what it keeps).

    dc:wh:{id}   hash: url, state, attempts (JSON array), owner, until (lease end, ms)
    dc:wh:due    zset: pending deliveries by when to look at them next (ms)

Claiming is one script: it walks the due deliveries, leases the first whose job has ended, and
pushes back those whose job is still running (so a long queue of running jobs cannot hide an
ended one). Recording is another, which checks the lease first.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from server.codec import dumps, loads
from server.store.webhooks import PENDING, RECHECK_MS, Delivery, WebhookLedger, shown_url

CLAIM_SCAN = 100

# Data, not code: the scripts are .lua files of the package (lua/), like the store's others.
CLAIM = (
    resources.files("server.store").joinpath("lua/webhook_claim.lua").read_text(encoding="utf-8")
)
RECORD = (
    resources.files("server.store").joinpath("lua/webhook_record.lua").read_text(encoding="utf-8")
)


class RedisWebhookLedger(WebhookLedger):
    def __init__(self, client: aioredis.Redis, prefix: str, ttl_ms: int) -> None:
        self._r = client
        self._prefix = prefix
        self._due = f"{prefix}wh:due"
        # A record lives as long as its job may (the job's TTL runs from its end), plus slack.
        self._ttl_ms = ttl_ms + 3_600_000
        self._claim: AsyncScript = client.register_script(CLAIM)
        self._record: AsyncScript = client.register_script(RECORD)

    def _key(self, job_id: str) -> str:
        return f"{self._prefix}wh:{job_id}"

    async def register(self, job_id: str, url: str, now_ms: int) -> None:
        key = self._key(job_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"url": url, "state": PENDING, "attempts": "[]", "until": 0})
            pipe.pexpire(key, self._ttl_ms)
            pipe.zadd(self._due, {job_id: now_ms})
            await pipe.execute()

    async def claim(self, node_id: str, now_ms: int, lease_ms: int) -> Delivery | None:
        got = await self._claim(
            keys=[self._due],
            args=[self._prefix, now_ms, lease_ms, node_id, RECHECK_MS, CLAIM_SCAN],
        )
        if not got:
            return None
        job_id, url, attempts = (x.decode() if isinstance(x, bytes) else str(x) for x in got)
        return Delivery(job_id, url, len(loads(attempts)))

    async def record(
        self, job_id: str, node_id: str, attempt: dict[str, Any], state: str, next_ms: int
    ) -> bool:
        done = await self._record(
            keys=[self._key(job_id), self._due],
            args=[node_id, dumps(attempt), state, next_ms, job_id],
        )
        return bool(done)

    async def get(self, job_id: str) -> dict[str, Any] | None:
        raw = await self._r.hmget(self._key(job_id), ["url", "state", "attempts"])
        if raw[0] is None:
            return None
        url, state, attempts = (x.decode() if isinstance(x, bytes) else str(x) for x in raw)
        return {"url": shown_url(url), "state": state, "attempts": loads(attempts)}

    async def cleanup(self, now_ms: int) -> int:
        return 0  # records expire with their TTL; the claim script drops those of gone jobs
