"""``create_app(settings)``: the application and the lifetime of everything it owns."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from server.api.capacity import capacity_middleware, setup_capacity
from server.api.middlewares import error_middleware
from server.api.origins import cross_origin_middleware, host_middleware
from server.api.proxies import proxy_middleware, setup_proxies
from server.api.routes import setup_routes
from server.api.security import (
    auth_middleware,
    cors_middleware,
    setup_security,
    stream_guard_middleware,
)
from server.appkeys import (
    COUNTER,
    HEALTH,
    HTTP,
    HUB,
    METRICS,
    PROVIDER,
    SETTINGS,
    SHARES,
    STORE,
    VOLUMES,
    WORKER,
    WORKER_TASK,
)
from server.live.lifetime import setup_live
from server.metrics import Metrics
from server.settings import Settings
from server.work.health import HealthView, watch_jobs
from server.work.runtime import background, cleanup_loop, open_counting, open_store
from server.work.scheduler import scheduler_loop
from server.work.webhooks import delivering
from server.work.worker import Worker

log = logging.getLogger("doccount")


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_store(app[SETTINGS]) as store:
        app[STORE] = store
        yield


async def provider_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_counting(app[SETTINGS], app[STORE], app[METRICS]) as counting:
        app[HTTP] = counting.session
        app[PROVIDER] = counting.provider
        app[COUNTER] = counting.counter
        app[SHARES] = counting.shares
        if counting.volumes is not None:
            app[VOLUMES] = counting.volumes
        yield


async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    worker = Worker(
        app[STORE], app[COUNTER], settings, shares=app[SHARES], volumes=app.get(VOLUMES)
    )
    app[WORKER] = worker
    if not settings.run_worker:
        yield
        return
    async with background(worker.run(), "worker") as task:
        app[WORKER_TASK] = task
        yield


async def webhook_ctx(app: web.Application) -> AsyncIterator[None]:
    async with delivering(app[STORE], app[SETTINGS]):
        yield


async def health_ctx(app: web.Application) -> AsyncIterator[None]:
    app[HEALTH] = HealthView(app[STORE])
    every_s = app[SETTINGS].health_watch_s
    if every_s <= 0:
        yield
        return
    async with background(watch_jobs(app[STORE], every_s), "health watch"):
        yield


async def cleanup_ctx(app: web.Application) -> AsyncIterator[None]:
    # Every web node looks for due watchlist runs; the store lets one of them start each.
    watch = scheduler_loop(app[STORE], app[SETTINGS], app[PROVIDER].name)
    async with (
        background(cleanup_loop(app[STORE], app[SETTINGS]), "cleanup"),
        background(watch, "watchlists"),
    ):
        yield


def create_app(settings: Settings) -> web.Application:
    # Outermost first: preflights are answered before anything else; the error middleware
    # renders what the others raise. Host and origin come before auth: a foreign page is
    # refused the same way whether or not it guessed the token. The proxy step is first of
    # all: every later one (limits, logs) must see the real client behind a trusted proxy.
    middlewares = [
        capacity_middleware,
        proxy_middleware,
        cors_middleware,
        error_middleware,
        host_middleware,
        cross_origin_middleware,
        auth_middleware,
        stream_guard_middleware,
    ]
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[METRICS].watch_provider(lambda: app.get(PROVIDER))
    app[METRICS].watch_hub(lambda: app.get(HUB))
    setup_security(app, settings)
    setup_proxies(app)
    setup_capacity(app)
    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(provider_ctx)
    app.cleanup_ctx.append(worker_ctx)
    app.cleanup_ctx.append(cleanup_ctx)
    app.cleanup_ctx.append(webhook_ctx)
    app.cleanup_ctx.append(health_ctx)
    setup_live(app)
    setup_routes(app)
    return app
