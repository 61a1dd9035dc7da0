"""``create_app(settings)``: the application and the lifetime of everything it owns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from .appkeys import COUNTER, HTTP, PROVIDER, SETTINGS, STORE, WORKER, WORKER_TASK
from .counting import KeywordCounter
from .live import setup_live
from .middlewares import error_middleware
from .model import now_ms
from .providers import make_provider
from .routes import setup_routes
from .settings import Settings
from .store import store_from_url
from .worker import Worker

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
    provider = make_provider(
        settings, session, store.limiter(settings.rate_per_s), store.key_registry()
    )
    app[PROVIDER] = provider
    app[COUNTER] = KeywordCounter(store, provider)
    yield
    await provider.close()
    await session.close()


async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    worker = Worker(app[STORE], app[COUNTER], settings)
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
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(provider_ctx)
    app.cleanup_ctx.append(worker_ctx)
    app.cleanup_ctx.append(cleanup_ctx)
    setup_live(app)
    setup_routes(app)
    return app
