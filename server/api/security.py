"""Who may call the API and how much: bearer token, CORS allow-list, open streams per client.

Three pieces, all driven by Settings:

- ``auth_middleware``: with an API token set, every ``/api/`` call needs
  ``Authorization: Bearer <token>``; the two stream endpoints may pass ``?token=`` instead,
  because EventSource and browser WebSockets cannot set headers. ``/api/config`` stays open
  (the dashboard reads ``authRequired`` there before it has a token), and so does the
  OpenAPI document, which describes the API and holds nothing secret.
- CORS: ``cors_middleware`` answers preflights; ``cors_on_prepare`` stamps the allow headers on
  every response just before its headers go out, which is the only moment that also works
  for SSE (a stream's headers are sent long before its handler returns).
- ``stream_guard_middleware``: SSE and WebSocket together may hold at most
  ``max_streams_per_client`` open streams per client address. (Whether a page may open a
  WebSocket at all is ``origins.cross_origin_middleware``'s call.)
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from server.api.middlewares import error_response
from server.appkeys import METRICS, SETTINGS
from server.errors import ORIGIN_NOT_ALLOWED, TOO_MANY_STREAMS, UNAUTHORIZED
from server.settings import Settings

SSE_PATH = "/api/documents/events"
WS_PATH = "/api/documents/ws"
STREAM_PATHS = frozenset({SSE_PATH, WS_PATH})
OPEN_API_PATHS = frozenset({"/api/config", "/api/openapi.json"})

ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Last-Event-ID, Idempotency-Key"
EXPOSED_HEADERS = "Retry-After, Idempotent-Replayed"
PREFLIGHT_MAX_AGE_S = 600


@dataclass
class StreamSlots:
    """Open SSE + WebSocket streams per client address. One event loop touches it: no lock."""

    limit: int
    open_by_client: dict[str, int] = field(default_factory=dict)

    def acquire(self, client: str) -> None:
        held = self.open_by_client.get(client, 0)
        if held >= self.limit:
            raise TOO_MANY_STREAMS(limit=self.limit)
        self.open_by_client[client] = held + 1

    def release(self, client: str) -> None:
        held = self.open_by_client.get(client, 0) - 1
        if held > 0:
            self.open_by_client[client] = held
        else:
            self.open_by_client.pop(client, None)

    def total(self) -> int:
        return sum(self.open_by_client.values())


STREAM_SLOTS = web.AppKey("stream_slots", StreamSlots)


def token_matches(expected: str, presented: str | None) -> bool:
    """Constant time whatever the input, so timing does not reveal how much of a guess was right."""
    if presented is None:
        # Still compare, so a missing token costs the same as a wrong one.
        hmac.compare_digest(expected.encode(), b"")
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def presented_token(request: web.Request) -> str | None:
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    if request.path in STREAM_PATHS:
        return request.query.get("token")
    return None


def needs_token(request: web.Request, settings: Settings) -> bool:
    return (
        settings.api_token is not None
        and request.path.startswith("/api/")
        and request.path not in OPEN_API_PATHS
    )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if needs_token(request, settings):
        assert settings.api_token is not None
        if not token_matches(settings.api_token, presented_token(request)):
            raise UNAUTHORIZED()
    return await handler(request)


# --- CORS ------------------------------------------------------------------------------------


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answers CORS preflights; everything else passes through."""
    origin = request.headers.get(hdrs.ORIGIN)
    if (
        request.method == hdrs.METH_OPTIONS
        and origin is not None
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    ):
        settings = request.app[SETTINGS]
        if origin not in settings.cors_origins:
            # Outside the error middleware (preflights are answered first): render here.
            return error_response(ORIGIN_NOT_ALLOWED())
        return web.Response(
            status=204,
            headers={
                hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOWED_METHODS,
                hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOWED_HEADERS,
                hdrs.ACCESS_CONTROL_MAX_AGE: str(PREFLIGHT_MAX_AGE_S),
            },
        )
    return await handler(request)


async def cors_on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or origin not in request.app[SETTINGS].cors_origins:
        return
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSED_HEADERS
    response.headers.add(hdrs.VARY, "Origin")


# --- streams ---------------------------------------------------------------------------------


@web.middleware
async def stream_guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Runs around the whole life of a stream: an SSE or WebSocket handler returns only when
    its stream ends, so the slot is held exactly as long as the stream is open."""
    if request.path not in STREAM_PATHS or request.method != hdrs.METH_GET:
        return await handler(request)
    slots = request.app[STREAM_SLOTS]
    client = request.remote or "unknown"
    slots.acquire(client)
    metrics = request.app[METRICS]
    transport = "ws" if request.path == WS_PATH else "sse"
    metrics.subscriber_opened(transport)
    try:
        return await handler(request)
    finally:
        metrics.subscriber_closed(transport)
        slots.release(client)


def setup_security(app: web.Application, settings: Settings) -> None:
    """Everything but the middlewares themselves, whose order create_app fixes."""
    app[STREAM_SLOTS] = StreamSlots(settings.max_streams_per_client)
    app.on_response_prepare.append(cors_on_prepare)
