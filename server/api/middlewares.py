"""One error middleware: every failure leaves as ``{"success": false, "error", "code"}``.

Middlewares here are plain functions where they can be: one that only checks, or only picks
what runs next, returns the next handler's awaitable itself (``return handler(request)``), so
it holds no suspended frame while the request runs. That matters for the streams (SSE and
WebSocket), which run for hours: every frame is memory held per open stream. A stream holds
one frame of the middlewares', the stream guard's (security.py), which also counts it, frees
its slot and renders its errors; the other middlewares let it through frameless
(``is_stream``), their checks done before it starts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from server.appkeys import SETTINGS
from server.codec import dumps
from server.errors import (
    BODY_TOO_LARGE,
    FOR_HTTP_STATUS,
    HTTP_ERROR,
    INTERNAL_ERROR,
    STORE_UNAVAILABLE,
    ApiError,
    StoreUnavailableError,
)

log = logging.getLogger("doccount.http")

SSE_PATH = "/api/documents/events"
WS_PATH = "/api/documents/ws"
STREAM_PATHS = frozenset({SSE_PATH, WS_PATH})


def is_stream(request: web.BaseRequest) -> bool:
    """An SSE or WebSocket request: its handler runs as long as the stream is open."""
    return request.method == hdrs.METH_GET and request.path in STREAM_PATHS


async def ready(response: web.StreamResponse) -> web.StreamResponse:
    """A response a frameless middleware has at once, as the awaitable it must return."""
    return response


def error_response(error: ApiError) -> web.Response:
    return web.json_response(
        {"success": False, "error": error.message, "code": error.code},
        status=error.status,
        headers=error.headers,
        dumps=dumps,
    )


def http_error(request: web.Request, exc: web.HTTPException) -> ApiError:
    """aiohttp's own HTTP errors (routing, body size) in the catalogue's words."""
    kind = FOR_HTTP_STATUS.get(exc.status)
    if kind is None:
        error = HTTP_ERROR(status=exc.status, reason=exc.reason)
    elif kind is BODY_TOO_LARGE:
        error = kind(limit=request.app[SETTINGS].max_body_bytes)
    else:
        error = kind()
    error.headers.update((k, v) for k, v in exc.headers.items() if k in ("Allow", "Retry-After"))
    return error


def render_error(request: web.Request, exc: Exception) -> web.StreamResponse:
    """``exc`` as the catalogue's JSON (a redirect, status < 400, is raised again)."""
    if isinstance(exc, ApiError):
        return error_response(exc)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return error_response(http_error(request, exc))
    if isinstance(exc, StoreUnavailableError):
        log.warning("store unavailable while serving %s %s", request.method, request.path)
        return error_response(STORE_UNAVAILABLE())
    log.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return error_response(INTERNAL_ERROR())


@web.middleware
def error_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    if is_stream(request):
        # The inner middlewares' checks run now, in this call; the stream guard renders what
        # the stream's handler raises.
        try:
            return handler(request)
        except Exception as exc:
            return ready(render_error(request, exc))
    return rendering_errors(request, handler)


async def rendering_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        return render_error(request, exc)
