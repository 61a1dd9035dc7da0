"""``--max-connections``: past that many open requests the service answers 503 at once rather
than accept work it has no file descriptors for. Each SSE or WebSocket stream is an open request
for its whole life, so this bounds the streams too. The probes (/healthz, /readyz, /metrics)
are never refused: the operator must still see what is going on."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from server.api.middlewares import is_stream, ready
from server.appkeys import SETTINGS
from server.errors import TOO_MANY_CONNECTIONS
from server.oslimits import default_max_connections

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass
class OpenRequests:
    limit: int
    open: int = 0


OPEN_REQUESTS = web.AppKey("open_requests", OpenRequests)


@web.middleware
def capacity_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    gauge = request.app[OPEN_REQUESTS]
    if gauge.open >= gauge.limit and request.path not in PROBES:
        error = TOO_MANY_CONNECTIONS(limit=gauge.limit)
        headers = {**error.headers, "Connection": "close"}
        refusal = web.json_response(
            {"success": False, "error": error.message, "code": error.code},
            status=error.status,
            headers=headers,
        )
        # The header alone only tells the client: aiohttp would keep the connection (and its
        # file descriptor) open for the next request until the client hangs up.
        refusal.force_close()
        return ready(refusal)
    if is_stream(request):
        # Counted by the stream guard (security.py) for the stream's life: no await comes
        # between this check and its count.
        return handler(request)
    return counted(gauge, request, handler)


async def counted(
    gauge: OpenRequests, request: web.Request, handler: Handler
) -> web.StreamResponse:
    gauge.open += 1
    try:
        return await handler(request)
    finally:
        gauge.open -= 1


def setup_capacity(app: web.Application) -> None:
    limit = app[SETTINGS].max_connections or default_max_connections()
    app[OPEN_REQUESTS] = OpenRequests(limit)
