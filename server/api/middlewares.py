"""One error middleware: every failure leaves as ``{"success": false, "error", "code"}``."""

from __future__ import annotations

import logging

from aiohttp import web
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


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(http_error(request, exc))
    except StoreUnavailableError:
        log.warning("store unavailable while serving %s %s", request.method, request.path)
        return error_response(STORE_UNAVAILABLE())
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(INTERNAL_ERROR())
