"""What counting needs, opened in order and closed in reverse: the store, the upstream session,
the provider and the counter. The web app (server/api/app.py) holds them in its cleanup
contexts; the worker process (``doccount worker``) opens them alone, with no web app, routes,
hub or streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp

from server.aio import cancel_and_wait
from server.kst import kst_day
from server.metrics import MeteredCounter, MeteredLimiter, Metrics
from server.model import now_ms
from server.settings import Settings
from server.store import store_from_url
from server.store.base import Store
from server.store.stats_base import first_day
from server.work.counting import KeywordCounter
from server.work.providers import make_provider, make_volume_provider
from server.work.providers.base import Provider
from server.work.providers.naver import NaverProvider
from server.work.shares import WeightedShares
from server.work.volumes import VolumeLookup
from server.work.webhooks import delivering
from server.work.worker import Worker

log = logging.getLogger("doccount")

# Enough for every job's keywords in flight at once, with room for one-off counts.
UPSTREAM_CONNECTIONS = 100
DNS_CACHE_TTL_S = 300


@dataclass(frozen=True, slots=True)
class Counting:
    session: aiohttp.ClientSession
    provider: Provider
    counter: KeywordCounter
    shares: WeightedShares
    volumes: VolumeLookup | None  # None: search volumes are off


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    store = store_from_url(settings.store_url, settings)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def log_start(settings: Settings) -> None:
    """What this process counts with, in one line: a wrong key or address shows at start."""
    if settings.provider == "naver":
        labels = ", ".join(k.label for k in settings.naver_keys)
        log.info(
            "provider naver: %d key(s) (%s), rate %g calls/s per key, upstream %s",
            len(settings.naver_keys),
            labels,
            settings.rate_per_s,
            settings.naver_base_url,
        )
    else:
        log.info("provider demo: offline placeholder numbers, rate %g calls/s", settings.rate_per_s)


@contextlib.asynccontextmanager
async def open_counting(
    settings: Settings, store: Store, metrics: Metrics
) -> AsyncIterator[Counting]:
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.request_timeout_s),
        connector=aiohttp.TCPConnector(limit=UPSTREAM_CONNECTIONS, ttl_dns_cache=DNS_CACHE_TTL_S),
    )
    try:
        # One turn past the shares gate per key: the limiter always has a caller for each key.
        slots = len(settings.naver_keys) if settings.provider == "naver" else 1
        shares = WeightedShares(
            store.limiter(settings.rate_per_s),
            slots=slots,
            capacity_per_s=settings.rate_per_s * slots,
        )
        limiter = MeteredLimiter(shares, metrics)
        provider = make_provider(settings, session, limiter, store.key_registry())
        # Its own limiter: the Search Ad API's speed limit has nothing to do with the search
        # API's.
        volume_provider = make_volume_provider(
            settings, session, store.limiter(settings.ad_rate_per_s)
        )
        volumes = None if volume_provider is None else VolumeLookup(store, volume_provider)
        try:
            log_start(settings)
            if isinstance(provider, NaverProvider) and settings.check_keys:
                await provider.check_keys()
            yield Counting(
                session, provider, MeteredCounter(store, provider, metrics), shares, volumes
            )
        finally:
            if volume_provider is not None:
                await volume_provider.close()
            await provider.close()
    finally:
        await session.close()


HISTORY_PRUNE_BATCH = 5000
HISTORY_PRUNE_ROUNDS = 20  # per cleanup round: the rest waits for the next one


async def prune_history(store: Store, settings: Settings, now: int) -> int:
    """Observations older than ``--history-days`` (0: kept forever), in short transactions.
    Job cleanup never touches the history: this is its only deletion."""
    if settings.history_days <= 0:
        return 0
    cutoff = now - round(settings.history_days * 86_400_000)
    removed = 0
    for _ in range(HISTORY_PRUNE_ROUNDS):
        batch = await store.history.prune(cutoff, HISTORY_PRUNE_BATCH)
        removed += batch
        if batch == 0:
            break
    return removed


async def cleanup_loop(store: Store, settings: Settings) -> None:
    """Deletes expired jobs every ``cleanup_interval_s``, whatever a round's failure."""
    while True:
        try:
            now = now_ms()
            removed = await store.cleanup(now)
            if removed:
                log.info("[정리] 만료된 작업 %d개 삭제", removed)
            pruned = await prune_history(store, settings, now)
            if pruned:
                log.info("[정리] 보관 기간이 지난 키워드 이력 %d건 삭제", pruned)
            # The stats window's days before it: a few rows a day.
            await store.stats.prune(first_day(kst_day(now)))
        except Exception:
            log.exception("cleanup failed; retrying next round")
        await asyncio.sleep(settings.cleanup_interval_s)


@contextlib.asynccontextmanager
async def background(
    coro: Coroutine[Any, Any, None], name: str
) -> AsyncIterator[asyncio.Task[None]]:
    """A task for the life of the block, cancelled and awaited at its end."""
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        await cancel_and_wait([task])


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """The worker process: counts jobs from the store until ``stop`` is set. Its metrics are
    kept (the counter and limiter report to them) but not served: a worker has no HTTP."""
    metrics = Metrics()
    async with (
        open_store(settings) as store,
        open_counting(settings, store, metrics) as counting,
    ):
        worker = Worker(
            store, counting.counter, settings, shares=counting.shares, volumes=counting.volumes
        )
        async with (
            background(worker.run(), "worker"),
            background(cleanup_loop(store, settings), "cleanup"),
            delivering(store, settings),
        ):
            log.info(
                "worker started on %s (id %s)", settings.store_url.split("@")[-1], worker.worker_id
            )
            await stop.wait()
