"""One error middleware: every failure leaves as ``{"success": false, "error", "code"}``."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from server.appkeys import SETTINGS
from server.errors import ApiError, StoreUnavailableError
from server.events import dumps

log = logging.getLogger("doccount.http")

HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "잘못된 요청입니다"),
    401: ("unauthorized", "인증이 필요합니다"),
    403: ("forbidden", "허용되지 않은 요청입니다"),
    404: ("not_found", "찾을 수 없는 경로입니다"),
    405: ("method_not_allowed", "허용되지 않은 메서드입니다"),
    413: ("body_too_large", "요청 본문이 너무 큽니다"),
    429: ("too_many_requests", "요청이 너무 많습니다"),
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"success": False, "error": message, "code": code},
        status=status,
        headers=headers,
        dumps=dumps,
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, message = HTTP_CODES.get(exc.status, ("http_error", exc.reason))
        if exc.status == 413:
            message = f"{message} (최대 {request.app[SETTINGS].max_body_bytes:,} 바이트)"
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return error_response(exc.status, code, message, headers)
    except StoreUnavailableError:
        log.warning("store unavailable while serving %s %s", request.method, request.path)
        return error_response(
            503,
            "store_unavailable",
            "저장소에 연결할 수 없습니다. 잠시 후 다시 시도하세요",
            {"Retry-After": "5"},
        )
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "서버 내부 오류가 발생했습니다")
