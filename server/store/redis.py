"""The distributed store: Redis, shared by any number of web nodes and ``doccount worker``s.

Key layout (prefix ``dc:``; one Redis, or a primary with replicas, not Redis Cluster: the
scripts touch keys of several jobs at once):

    dc:job:{id}              hash: status, prio, keywords, categories, total, current, created,
                             started, completed, error, seq (last event), source, client,
                             worker, qkey/qid (its queue entry), cancel, order
    dc:job:{id}:results      hash: keyword index -> result JSON
    dc:job:{id}:events       stream: the job's event log, entry ids "<seq>-0", capped
    dc:job:{id}:upd          hash: index -> seq of the event that replaced a result (since)
    dc:queue:{0,1,2}         streams by priority (high, normal, low), consumer group "workers"
    dc:pending               zset: pending jobs by (priority, arrival): queuePosition = rank+1
    dc:processing            set: jobs being processed
    dc:jobs                  zset: every job by arrival, for the newest-first list
    dc:client:{address}      set: a client's pending/processing jobs (per-client cap)
    dc:ended, dc:ended:info  zset by end time, hash status|duration: cleanup and stats
    dc:stats                 hash: terminal counts, sum and count of completed job times
    dc:feed, dc:feed:seq     stream: the jobs feed (JOBS_FEED), capped, and its counter
    dc:count:{origin}:{cat}:{keyword}
                             string "<count>:<observed ms>" with a TTL: a cached count, under
                             a digest of its origin (provider and upstream base URL)
    dc:vol:{origin}:{keyword}
                             string with a TTL: a cached search volume row (JSON, with
                             observedAt), under a digest of its origin like counts
    dc:workers               hash: worker id -> {"seenMs", "jobs"}, its last heartbeat
    dc:layout                hash: layout versions (cache=2: the old dc:cache:* keys, of
                             unknown origin, were dropped)
    dc:rl:{key}, dc:retired  the shared pacer and key retirements (redis_limits)
    dc:h:...                 the keyword history (redis_history)
    dc:sd:{day}              the day's counters for /api/stats (redis_stats)
    dc:wl...                 watchlists and their claimed runs (redis_watch)

The queue: ``create_job`` XADDs to its priority's stream. A worker's claim (one Lua script)
first takes over entries whose holder let the lease run out (XAUTOCLAIM, min-idle = lease; a
worker that stops cleanly hands its jobs back at once by marking them idle for a lease),
then reads new ones with XREADGROUP, high priority first. The entry stays in the consumer
group's pending list while the job runs; ``renew_claim`` resets its idle time (XCLAIM JUSTID)
every lease/3; ``finish`` acknowledges it together with the terminal state. A worker that dies
stops renewing, and another worker takes the job over after the lease and resumes at the first
keyword without a result (results are committed in order; counts are cached as they arrive).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from server.codec import dumps, loads, splice_results
from server.errors import QueueFullError, StoreUnavailableError
from server.events import Event, EventPage, parse_seq
from server.model import JOBS_FEED, PENDING, PROCESSING, TERMINAL, ClaimedJob, JobSpec, now_ms
from server.settings import Settings
from server.store import redis_scripts as lua
from server.store.base import (
    BEAT_KEEP_MS,
    IDEMPOTENCY_WINDOW_MS,
    CachedCount,
    Store,
    WorkerBeat,
)
from server.store.jsoncache import TerminalJsonCache
from server.store.redis_history import RedisHistory
from server.store.redis_limits import RedisKeyRegistry, RedisRateLimiter, is_unavailable
from server.store.redis_stats import RedisStats
from server.store.redis_watch import RedisWatch
from server.store.redis_webhooks import RedisWebhookLedger
from server.store.webhooks import WebhookLedger
from server.work.providers.base import KeyRegistry, RateLimiter

log = logging.getLogger("doccount.redis")

PREFIX = "dc:"
GROUP = "workers"
PRIORITY_LEVELS = (0, 1, 2)
EVENT_MAXLEN = 100_000  # per job: far beyond 1000 keywords + ticks; a runaway log is capped
FEED_MAXLEN = 10_000
COMMAND_TIMEOUT_S = 3.0  # a stopped Redis answers nothing: fail the request, do not hang
CONNECT_TIMEOUT_S = 2.0
COMMAND_POOL_SIZE = 64  # commands in flight at once per process; more wait for a connection
BLOCKING_POOL_SIZE = 1024  # blocking reads at once per process (jobs watched live on a node)
POOL_WAIT_S = 5.0
SLOW_POOL_WAIT_S = 1.0  # a store call that waits longer than this for a connection is logged
BLOCK_GRACE_S = 2.0  # a blocking read may take this much longer than its BLOCK before we give up
CANCEL_POLL_S = 0.2
CLEANUP_BATCH = 200  # jobs per script: Redis serves nobody else while one runs
# A terminal job's JSON is served from this node's memory for up to this long: another node's
# cleanup (or a late write by a worker that lost the job) shows here at most this late.
JSON_CACHE_TTL_S = 1.0
CACHE_LAYOUT = "2"
IDLE_CONSUMER_MS = 3_600_000  # forget a worker name with nothing pending after an hour


class WatchedPool(BlockingConnectionPool):
    """A blocking pool that says when a store call waited long for a connection: a pool that
    runs dry (connections held by calls that never end) shows in the log, not as silence."""

    label = "commands"

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            waited_s = time.monotonic() - started
            if waited_s > SLOW_POOL_WAIT_S:
                log.warning(
                    "Redis: a store call waited %.1fs for a connection (%s pool, %d of %d in use)",
                    waited_s,
                    self.label,
                    len(self._in_use_connections),
                    self.max_connections,
                )


@contextlib.contextmanager
def unavailable_as_error() -> Iterator[None]:
    """Redis connection and timeout errors leave every method as StoreUnavailableError, which
    the HTTP layer renders as 503 ``store_unavailable`` and the worker waits out."""
    try:
        yield
    except StoreUnavailableError:
        raise
    except Exception as exc:
        if is_unavailable(exc):
            raise StoreUnavailableError(f"Redis unavailable: {exc}") from exc
        raise


def stream_seq(stream_id: str) -> int:
    return int(stream_id.partition("-")[0])


def to_event(entry: tuple[str, dict[str, str]]) -> Event:
    stream_id, fields = entry
    return Event(str(stream_seq(stream_id)), fields["t"], fields["j"])


def script_event(raw: list[str]) -> Event:
    return Event(raw[0], raw[1], raw[2])


class RedisStore(Store):
    stats: RedisStats  # the engine calls its hooks in its own writes

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.lease_ms = max(1, round(settings.lease_s * 1000))
        self.ttl_ms = round(settings.job_ttl_s * 1000)
        common: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "client_name": "doccount",
            # One immediate retry on a broken connection (a pooled socket from before a Redis
            # restart); none on timeouts, where the command may have run.
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            # Past max_connections, wait for a free connection: redis-py's default pool would
            # fail the command instead (a burst of a hundred subscribers is not an outage).
            "timeout": POOL_WAIT_S,
        }
        self._pool = WatchedPool.from_url(
            url, max_connections=COMMAND_POOL_SIZE, socket_timeout=COMMAND_TIMEOUT_S, **common
        )
        self._r = aioredis.Redis.from_pool(self._pool)
        # Blocking reads (XREAD BLOCK: one per feed the hub runs, one per waiting worker) get
        # their own pool with no socket timeout; each call is bounded by asyncio.timeout.
        blocking = WatchedPool.from_url(
            url, max_connections=BLOCKING_POOL_SIZE, socket_timeout=None, **common
        )
        blocking.label = "blocking reads"
        self._rb = aioredis.Redis.from_pool(blocking)
        scripts = {
            "create": lua.CREATE,
            "claim": lua.CLAIM,
            "renew": lua.RENEW,
            "release": lua.RELEASE,
            "record": lua.RECORD,
            "update": lua.UPDATE,
            "progress": lua.PROGRESS,
            "finish": lua.FINISH,
            "cancel": lua.CANCEL,
            "get": lua.GET,
            "since": lua.SINCE,
            "list": lua.LIST,
            "feed": lua.FEED,
            "cleanup": lua.CLEANUP,
        }
        self._scripts: dict[str, AsyncScript] = {
            name: self._r.register_script(
                lua.with_prelude(
                    body, prefix=PREFIX, event_maxlen=EVENT_MAXLEN, feed_maxlen=FEED_MAXLEN
                )
            )
            for name, body in scripts.items()
        }
        self._limiters: dict[float, RedisRateLimiter] = {}
        self._keys = RedisKeyRegistry(self._r, PREFIX)
        self._webhooks = RedisWebhookLedger(self._r, PREFIX, self.ttl_ms)
        # Jobs this process holds: job id -> (worker id, monotonic time of the last renewal
        # attempt). A claim never takes over a job its own worker is still renewing.
        self._held: dict[str, tuple[str, float]] = {}
        self._json_cache = TerminalJsonCache(ttl_s=JSON_CACHE_TTL_S)
        self.history = RedisHistory(self._r, settings.history_days)
        self.watchlists = RedisWatch(self._r)
        self.stats = RedisStats(self._r, PREFIX)

    # --- plumbing -----------------------------------------------------------------------

    async def _run(self, name: str, *args: Any) -> Any:
        with unavailable_as_error():
            return await self._scripts[name](args=list(args))

    @staticmethod
    def _job_key(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    def _log_key(self, job_id: str) -> str:
        return f"{PREFIX}feed" if job_id == JOBS_FEED else f"{self._job_key(job_id)}:events"

    async def _ensure_groups(self) -> None:
        for level in PRIORITY_LEVELS:
            try:
                # "0": entries queued before the group existed are delivered too.
                await self._r.xgroup_create(f"{PREFIX}queue:{level}", GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # --- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        # Nothing to recover here: a dead holder's jobs are taken over after the lease. Redis
        # may be down at start: nodes then answer 503 and workers wait until it is back.
        try:
            with unavailable_as_error():
                await self._ensure_groups()
                await self._drop_old_cache()
        except StoreUnavailableError as exc:
            log.warning("Redis not reachable at start (%s); will keep trying", exc)

    async def close(self) -> None:
        # By now the worker has stopped (the app closes the store last): what it held can be
        # resumed elsewhere at once instead of after the lease.
        for job_id, (worker_id, _) in list(self._held.items()):
            try:
                async with asyncio.timeout(COMMAND_TIMEOUT_S):
                    await self._run("release", job_id, GROUP, worker_id, self.lease_ms)
            except (StoreUnavailableError, TimeoutError):
                break  # Redis away: the lease runs out instead
        self._held.clear()
        await self._r.aclose()
        await self._rb.aclose()

    async def ping(self) -> None:
        with unavailable_as_error():
            await self._r.ping()

    # --- jobs ---------------------------------------------------------------------------

    async def create_job(
        self,
        spec: JobSpec,
        *,
        max_queued: int | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        created = await self._run(
            "create",
            spec.id,
            dumps(spec.id),
            spec.priority,
            dumps(list(spec.keywords)),
            dumps(list(spec.categories)),
            len(spec.keywords),
            spec.created_ms,
            dumps(spec.source),
            spec.client,
            "" if max_queued is None else max_queued,
            idempotency_key or "",
            IDEMPOTENCY_WINDOW_MS,
            dumps(spec.name),
            *self.stats.created_args(),
        )
        if created == 0:
            raise QueueFullError(max_queued or 0)
        job_id: str = created
        return job_id

    async def get_job(self, job_id: str, *, with_results: bool = True) -> dict[str, Any] | None:
        raw = await self._run("get", job_id, "1" if with_results else "0")
        if raw is None:
            return None
        job: dict[str, Any] = loads(raw[0])
        if with_results:
            flat: list[str] = raw[1]
            by_index = {int(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
            job["results"] = [loads(by_index[i]) for i in sorted(by_index)]
        return job

    async def get_job_json(self, job_id: str) -> str | None:
        # Spliced here rather than in the script: building the text in Lua costs Redis (shared
        # by every node) more than twice the script's time; this node pays a sort instead.
        cached = self._json_cache.get(job_id)
        if cached is not None:
            return cached
        generation = self._json_cache.generation
        raw = await self._run("get", job_id, "1")
        if raw is None:
            return None
        flat: list[str] = raw[1]
        by_index = {int(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        text = splice_results(raw[0], [by_index[i] for i in sorted(by_index)])
        if loads(raw[0])["status"] in TERMINAL:
            self._json_cache.put(job_id, text, generation)
        return text

    async def get_job_json_since(self, job_id: str, since: str) -> tuple[str, bool] | None:
        raw = await self._run("since", job_id, parse_seq(since))
        if raw is None:
            return None
        if raw[1] == "future":
            raise ValueError(f"event {since!r} is past the job's last")
        return splice_results(raw[0], raw[2]), raw[1] == "1"

    async def list_jobs(self, limit: int) -> list[dict[str, Any]]:
        rows: list[str] = await self._run("list", limit)
        return [loads(row) for row in rows]

    async def count_queued(self, client: str) -> int:
        with unavailable_as_error():
            return int(await self._r.scard(f"{PREFIX}client:{client}"))

    def _held_by(self, worker_id: str) -> list[str]:
        fresh_after = time.monotonic() - self.settings.lease_s
        return [j for j, (w, t) in self._held.items() if w == worker_id and t > fresh_after]

    async def claim_next(self, worker_id: str, timeout_s: float) -> ClaimedJob | None:
        deadline = time.monotonic() + timeout_s
        while True:
            raw = await self._claim_once(worker_id)
            if raw[0]:
                job_id, keywords, categories, current, started, priority = raw
                self._held[job_id] = (worker_id, time.monotonic())
                return ClaimedJob(
                    id=job_id,
                    keywords=tuple(loads(keywords)),
                    categories=tuple(loads(categories)),
                    next_index=int(current),
                    started_ms=int(started),
                    priority=int(priority),
                )
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return None
            # New jobs wake us at once; a dead worker's lease running out does not, so look
            # again after a fraction of the lease.
            wait_s = min(remaining_s, max(self.settings.lease_s / 4, 0.05))
            queues = (f"{PREFIX}queue:{p}" for p in PRIORITY_LEVELS)
            await self._xread(dict(zip(queues, raw[1:], strict=True)), 1, wait_s)

    async def _claim_once(self, worker_id: str) -> list[str]:
        args = (GROUP, worker_id, self.lease_ms, now_ms(), *self._held_by(worker_id))
        try:
            result: list[str] = await self._run("claim", *args)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost its data (restarted without persistence): recreate the groups.
            with unavailable_as_error():
                await self._ensure_groups()
            result = await self._run("claim", *args)
        return result

    async def _xread(self, streams: dict[Any, Any], count: int, wait_s: float) -> Any:
        """XREAD BLOCK on the blocking pool, bounded on our side too: a stopped Redis would
        otherwise hold the call forever."""
        with unavailable_as_error():
            async with asyncio.timeout(wait_s + BLOCK_GRACE_S):
                return await self._rb.xread(
                    streams, count=count, block=max(1, round(wait_s * 1000))
                )

    async def renew_claim(self, job_id: str, worker_id: str) -> bool:
        # Recorded before the call: while Redis is unreachable the worker is still holding on.
        self._held[job_id] = (worker_id, time.monotonic())
        ok = await self._run("renew", job_id, GROUP, worker_id)
        if not ok:
            self._held.pop(job_id, None)
        return bool(ok)

    async def record_result(
        self, job_id: str, index: int, result: dict[str, Any], worker_id: str
    ) -> Event:
        failed = "1" if result.get("error") is not None else "0"
        raw = await self._run(
            "record", job_id, index, dumps(result), failed, *self.stats.recorded_args(result)
        )
        self._json_cache.drop(job_id)
        if raw is None:
            raise LookupError(f"job {job_id} no longer exists")
        return script_event(raw)

    async def update_result(
        self, job_id: str, index: int, result: dict[str, Any], worker_id: str
    ) -> Event | None:
        raw = await self._run("update", job_id, index, dumps(result))
        self._json_cache.drop(job_id)
        return None if raw is None else script_event(raw)

    async def append_progress(self, job_id: str, extra: dict[str, Any]) -> Event:
        fragment = "," + dumps(extra)[1:-1] if extra else ""
        raw = await self._run("progress", job_id, fragment)
        self._json_cache.drop(job_id)
        if raw is None:
            raise LookupError(f"job {job_id} no longer exists")
        return script_event(raw)

    async def finish(self, job_id: str, status: str, error: str | None, worker_id: str) -> Event:
        assert status in TERMINAL
        raw = await self._run(
            "finish", job_id, status, dumps(error), now_ms(), self.ttl_ms, GROUP, worker_id
        )
        self._held.pop(job_id, None)
        self._json_cache.drop(job_id)
        if raw is None:
            raise LookupError(f"job {job_id} no longer exists")
        return script_event(raw)

    async def request_cancel(self, job_id: str) -> dict[str, Any] | None:
        raw = await self._run("cancel", job_id, now_ms(), self.ttl_ms)
        self._json_cache.drop(job_id)
        return None if raw is None else dict(loads(raw))

    async def wait_cancel(self, job_id: str) -> None:
        # Polling a flag rather than pub/sub: nothing to resubscribe after a reconnect, and a
        # cancel is seen within CANCEL_POLL_S whichever node set it.
        key = self._job_key(job_id)
        while True:
            try:
                with unavailable_as_error():
                    status, flag = await self._r.hmget(key, ["status", "cancel"])
                # Ended (by whoever): nothing left to cancel, and a watcher whose own cancel
                # was lost (see server/aio.py) stops by itself.
                if status is None or flag == "1" or status in TERMINAL:
                    return
            except StoreUnavailableError:
                pass  # Redis down: the worker's other calls report it; keep watching
            await asyncio.sleep(CANCEL_POLL_S)

    # --- event logs ---------------------------------------------------------------------

    async def read_events(
        self, job_id: str, after: str | None, *, limit: int = 1000, block_s: float = 0.0
    ) -> EventPage:
        after_seq = parse_seq(after)
        key = self._log_key(job_id)
        start = f"({after_seq}-0"
        with unavailable_as_error():
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.xrange(key, min=start, max="+", count=limit)
                pipe.xrange(key, min="-", max="+", count=1)
                entries, first = await pipe.execute()
        page = self._page(entries, first, after_seq)
        if page.events or page.gap or block_s <= 0:
            return page
        got = await self._xread({key: f"{after_seq}-0"}, limit, block_s)
        if not got:
            return page
        entries = got[0][1]
        if after_seq and entries and stream_seq(entries[0][0]) != after_seq + 1:
            with unavailable_as_error():
                first = await self._r.xrange(key, min="-", max="+", count=1)
        return self._page(entries, first, after_seq)

    @staticmethod
    def _page(
        entries: list[tuple[str, dict[str, str]]],
        first: list[tuple[str, dict[str, str]]],
        after_seq: int,
    ) -> EventPage:
        events = [to_event(e) for e in entries]
        gap = False
        if after_seq and (not events or int(events[0].id) != after_seq + 1) and first:
            gap = stream_seq(first[0][0]) > after_seq + 1
        return EventPage(events, gap)

    async def last_event_id(self, job_id: str) -> str | None:
        with unavailable_as_error():
            last = await self._r.xrevrange(self._log_key(job_id), max="+", min="-", count=1)
        return str(stream_seq(str(last[0][0]))) if last else None

    async def append_feed(self, job: dict[str, Any]) -> Event:
        return script_event(await self._run("feed", dumps(job)))

    # --- upstream support ---------------------------------------------------------------

    @staticmethod
    def _cache_key(origin: str, keyword: str, category: str) -> str:
        digest = hashlib.sha256(origin.encode()).hexdigest()[:16]
        return f"{PREFIX}count:{digest}:{category}:{keyword}"

    async def cache_get(
        self, origin: str, keyword: str, categories: tuple[str, ...]
    ) -> dict[str, CachedCount]:
        if not categories:
            return {}
        try:
            with unavailable_as_error():
                values = await self._r.mget(
                    [self._cache_key(origin, keyword, c) for c in categories]
                )
        except StoreUnavailableError as exc:
            # The cache saves calls; it is never a reason to fail a keyword.
            log.warning("cache read skipped, Redis unavailable (%s)", exc)
            return {}
        got: dict[str, CachedCount] = {}
        for category, value in zip(categories, values, strict=True):
            if value is not None:
                count, _, observed = str(value).partition(":")
                got[category] = CachedCount(int(count), int(observed))
        return got

    async def cache_put(
        self, origin: str, keyword: str, category: str, count: int, observed_ms: int
    ) -> None:
        try:
            with unavailable_as_error():
                await self._r.set(
                    self._cache_key(origin, keyword, category),
                    f"{count}:{observed_ms}",
                    # Fresh for the TTL from when it was observed, as on the embedded store.
                    px=max(1, observed_ms + round(self.settings.cache_ttl_s * 1000) - now_ms()),
                )
        except StoreUnavailableError as exc:
            log.warning("cache write skipped, Redis unavailable (%s)", exc)

    @staticmethod
    def _volume_key(origin: str, keyword: str) -> str:
        digest = hashlib.sha256(origin.encode()).hexdigest()[:16]
        return f"{PREFIX}vol:{digest}:{keyword}"

    async def volume_cache_get(self, origin: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}
        try:
            with unavailable_as_error():
                values = await self._r.mget([self._volume_key(origin, k) for k in keys])
        except StoreUnavailableError as exc:
            log.warning("volume cache read skipped, Redis unavailable (%s)", exc)
            return {}
        return {k: loads(v) for k, v in zip(keys, values, strict=True) if v is not None}

    async def volume_cache_put(self, origin: str, rows: dict[str, dict[str, Any]]) -> None:
        if not rows:
            return
        ttl_ms = max(1, round(self.settings.volume_cache_ttl_s * 1000))
        try:
            with unavailable_as_error():
                async with self._r.pipeline(transaction=False) as pipe:
                    for k, row in rows.items():
                        pipe.set(self._volume_key(origin, k), dumps(row), px=ttl_ms)
                    await pipe.execute()
        except StoreUnavailableError as exc:
            log.warning("volume cache write skipped, Redis unavailable (%s)", exc)

    async def _drop_old_cache(self) -> None:
        """Counts cached before they carried their origin (``dc:cache:*``) cannot be trusted
        to be Naver's: drop them, once per Redis."""
        if await self._r.hget(f"{PREFIX}layout", "cache") == CACHE_LAYOUT:
            return
        dropped = 0
        async for key in self._r.scan_iter(match=f"{PREFIX}cache:*", count=1000):
            dropped += int(await self._r.unlink(key))
        await self._r.hset(f"{PREFIX}layout", "cache", CACHE_LAYOUT)
        if dropped:
            log.info("dropped %d cached counts of unknown origin (cache layout %s)", dropped,
                     CACHE_LAYOUT)  # fmt: skip

    def limiter(self, rate_per_s: float) -> RateLimiter:
        limiter = self._limiters.get(rate_per_s)
        if limiter is None:
            limiter = self._limiters[rate_per_s] = RedisRateLimiter(self._r, PREFIX, rate_per_s)
        return limiter

    def key_registry(self) -> KeyRegistry:
        return self._keys

    def webhook_ledger(self) -> WebhookLedger:
        return self._webhooks

    # --- upkeep -------------------------------------------------------------------------

    async def cleanup(self, now: int) -> int:
        cutoff = now - round(self.settings.job_ttl_s * 1000)
        removed = 0
        try:
            while True:
                batch = int(await self._run("cleanup", cutoff, CLEANUP_BATCH))
                removed += batch
                if batch < CLEANUP_BATCH:
                    break
        finally:
            self._json_cache.clear()
        await self._forget_idle_consumers()
        return removed

    async def _forget_idle_consumers(self) -> None:
        """Every worker process leaves a consumer name in the group; drop those that hold
        nothing and have been silent for long."""
        with unavailable_as_error():
            for level in PRIORITY_LEVELS:
                stream = f"{PREFIX}queue:{level}"
                try:
                    consumers = await self._r.xinfo_consumers(stream, GROUP)
                except ResponseError:
                    continue  # no stream or group yet
                for c in consumers:
                    if int(c["pending"]) == 0 and int(c["idle"]) > IDLE_CONSUMER_MS:
                        await self._r.xgroup_delconsumer(stream, GROUP, c["name"])

    async def heartbeat(
        self,
        worker_id: str,
        job_ids: list[str],
        now_ms: int,
        *,
        quota_waits: Mapping[str, int] | None = None,
    ) -> None:
        body: dict[str, Any] = {"seenMs": now_ms, "jobs": job_ids}
        if quota_waits:
            body["quotaWaits"] = dict(quota_waits)
        beat = dumps(body)
        with unavailable_as_error():
            await self._r.hset(f"{PREFIX}workers", worker_id, beat)

    async def forget_worker(self, worker_id: str) -> None:
        with unavailable_as_error():
            await self._r.hdel(f"{PREFIX}workers", worker_id)

    async def heartbeats(self, now_ms: int) -> list[WorkerBeat]:
        with unavailable_as_error():
            rows = await self._r.hgetall(f"{PREFIX}workers")
        beats: list[WorkerBeat] = []
        gone: list[str] = []
        for key, raw in rows.items():
            worker_id, beat = str(key), loads(raw)
            if beat["seenMs"] < now_ms - BEAT_KEEP_MS:
                gone.append(worker_id)
            else:
                waits = beat.get("quotaWaits", {})
                beats.append(WorkerBeat(worker_id, beat["seenMs"], tuple(beat["jobs"]), waits))
        if gone:
            with unavailable_as_error():
                await self._r.hdel(f"{PREFIX}workers", *gone)
        return sorted(beats, key=lambda b: -b.seen_ms)

    async def job_stats(self) -> dict[str, Any]:
        with unavailable_as_error():
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.zcard(f"{PREFIX}pending")
                pipe.scard(f"{PREFIX}processing")
                pipe.hgetall(f"{PREFIX}stats")
                pending, processing, stats = await pipe.execute()
        counts = {PENDING: int(pending), PROCESSING: int(processing)}
        counts.update({s: int(stats.get(s, 0)) for s in TERMINAL})
        dur_n = int(stats.get("dur_n", 0))
        return {
            "byStatus": {s: counts[s] for s in (PENDING, PROCESSING, *sorted(TERMINAL))},
            "queueDepth": counts[PENDING],
            "avgJobMs": round(int(stats.get("dur_sum", 0)) / dur_n) if dur_n > 0 else None,
        }
