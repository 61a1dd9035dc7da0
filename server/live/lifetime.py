"""The live push's lifetime within the app: the hub starts after the store and stops before it;
at shutdown every open stream is closed first (WebSockets 1001, SSE streams ended)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.appkeys import HEALTH, HUB, SETTINGS, STORE
from server.live.hub import Hub


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    hub = Hub(app[STORE], app[SETTINGS], app.get(HEALTH))
    app[HUB] = hub
    yield
    await hub.close()


async def close_streams(app: web.Application) -> None:
    if HUB in app:
        await app[HUB].shutdown()


def setup_live(app: web.Application) -> None:
    app.cleanup_ctx.append(hub_ctx)
    app.on_shutdown.append(close_streams)
