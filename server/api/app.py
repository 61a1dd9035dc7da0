"""``create_app(settings)``: the application and the lifetime of everything it owns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from server.api.middlewares import error_middleware
from server.api.routes import setup_routes
from server.api.security import (
    auth_middleware,
    cors_middleware,
    setup_security,
    stream_guard_middleware,
)
from server.appkeys import (
    COUNTER,
    HTTP,
    HUB,
    METRICS,
    PROVIDER,
    SETTINGS,
    STORE,
    VOLUMES,
    WORKER,
    WORKER_TASK,
)
from server.live.lifetime import setup_live
from server.metrics import MeteredCounter, MeteredLimiter, Metrics
from server.model import now_ms
from server.settings import Settings
from server.store import store_from_url
from server.work.providers import make_provider, make_volume_provider
from server.work.volumes import VolumeLookup
from server.work.worker import Worker

log = logging.getLogger("doccount")


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = store_from_url(settings.store_url, settings)
    await store.open()
    app[STORE] = store
    yield
    await store.close()


async def provider_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = app[STORE]
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.request_timeout_s),
        connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
    )
    app[HTTP] = session
    metrics = app[METRICS]
    limiter = MeteredLimiter(store.limiter(settings.rate_per_s), metrics)
    provider = make_provider(settings, session, limiter, store.key_registry())
    app[PROVIDER] = provider
    app[COUNTER] = MeteredCounter(store, provider, metrics)
    # Its own limiter: the Search Ad API's speed limit has nothing to do with the search API's.
    volume_provider = make_volume_provider(settings, session, store.limiter(settings.ad_rate_per_s))
    if volume_provider is not None:
        app[VOLUMES] = VolumeLookup(store, volume_provider)
    yield
    if volume_provider is not None:
        await volume_provider.close()
    await provider.close()
    await session.close()


async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    worker = Worker(app[STORE], app[COUNTER], settings, volumes=app.get(VOLUMES))
    app[WORKER] = worker
    if settings.run_worker:
        app[WORKER_TASK] = asyncio.create_task(worker.run(), name="worker")
    yield
    if settings.run_worker:
        task = app[WORKER_TASK]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def cleanup_loop(app: web.Application) -> None:
    settings = app[SETTINGS]
    while True:
        try:
            removed = await app[STORE].cleanup(now_ms())
            if removed:
                log.info("[정리] 만료된 작업 %d개 삭제", removed)
        except Exception:
            log.exception("cleanup failed; retrying next round")
        await asyncio.sleep(settings.cleanup_interval_s)


async def cleanup_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(cleanup_loop(app), name="cleanup")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings) -> web.Application:
    # Outermost first: preflights are answered before anything else; the error middleware
    # renders what auth and the stream guard raise.
    middlewares = [cors_middleware, error_middleware, auth_middleware, stream_guard_middleware]
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[METRICS].watch_provider(lambda: app.get(PROVIDER))
    app[METRICS].watch_hub(lambda: app.get(HUB))
    setup_security(app, settings)
    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(provider_ctx)
    app.cleanup_ctx.append(worker_ctx)
    app.cleanup_ctx.append(cleanup_ctx)
    setup_live(app)
    setup_routes(app)
    return app
