"""Who may call the API and how much: bearer token, CORS allow-list, open streams per client.

Three pieces, all driven by Settings:

- ``auth_middleware``: with an API token set, every ``/api/`` call needs
  ``Authorization: Bearer <token>``. EventSource and browser WebSockets cannot set headers:
  they pass a job-scoped stream token (server/api/streamtokens.py) as ``?token=``, which also
  works for the job's status poll; the API token itself in a URL is refused (401
  ``token_in_url``) unless ``--allow-token-in-url``. ``/api/config`` stays open
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from server.api import streamtokens
from server.api.capacity import OPEN_REQUESTS
from server.api.middlewares import (
    SSE_PATH,
    STREAM_PATHS,
    WS_PATH,
    error_response,
    is_stream,
    ready,
    render_error,
)
from server.appkeys import HANDED_OVER, METRICS, SETTINGS, STREAM_SCOPE
from server.errors import (
    ORIGIN_NOT_ALLOWED,
    STREAM_TOKEN_INVALID,
    STREAM_TOKEN_SCOPE,
    TOKEN_IN_URL,
    TOO_MANY_STREAMS,
    UNAUTHORIZED,
)
from server.model import JOBS_FEED
from server.settings import Settings

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


STATUS_PATH = "/api/documents/status"
# Where a token may come in the URL (``?token=``): what EventSource, a WebSocket and a plain
# link cannot send a header to. The API token itself only with --allow-token-in-url.
URL_TOKEN_PATHS = STREAM_PATHS | {STATUS_PATH}


def presented_token(request: web.Request) -> tuple[str | None, bool]:
    """(the token, whether it came in the URL)."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        scheme, _, value = header.partition(" ")
        return (value.strip() if scheme.lower() == "bearer" else None), False
    if request.path in URL_TOKEN_PATHS:
        return request.query.get("token"), True
    return None, False


def needs_token(request: web.Request, settings: Settings) -> bool:
    return (
        settings.api_token is not None
        and request.path.startswith("/api/")
        and request.path not in OPEN_API_PATHS
    )


def scope_allows(request: web.Request, scope: str) -> bool:
    """Whether a stream token for ``scope`` (a job id, or JOBS_FEED) may make this request:
    its job's SSE and status, a WebSocket (each subscription is checked there), and a new
    stream token for the same job."""
    if request.method == hdrs.METH_GET and request.path == SSE_PATH:
        if "jobs" in request.query:
            return scope == JOBS_FEED and request.query["jobs"] == "all"
        return request.query.get("jobId") == scope
    if request.method == hdrs.METH_GET and request.path == WS_PATH:
        return True
    if request.method == hdrs.METH_GET and request.path == STATUS_PATH:
        return request.query.get("jobId") == scope
    if request.method == hdrs.METH_POST and request.path.endswith("/stream-token"):
        return request.match_info.get("job_id") == scope
    return False


@web.middleware
def auth_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    settings = request.app[SETTINGS]
    if needs_token(request, settings):
        assert settings.api_token is not None
        token, in_url = presented_token(request)
        if token is not None and streamtokens.looks_like(token):
            scope = streamtokens.verify(settings.api_token, token)
            if scope is None:
                raise STREAM_TOKEN_INVALID()
            if not scope_allows(request, scope):
                raise STREAM_TOKEN_SCOPE()
            request[STREAM_SCOPE] = scope
        elif not token_matches(settings.api_token, token):
            raise UNAUTHORIZED()
        elif in_url and not (settings.allow_token_in_url and request.path in STREAM_PATHS):
            raise TOKEN_IN_URL()
    return handler(request)  # frameless (middlewares.py)


# --- CORS ------------------------------------------------------------------------------------


@web.middleware
def cors_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Answers CORS preflights; everything else passes through (frameless, middlewares.py)."""
    origin = request.headers.get(hdrs.ORIGIN)
    if (
        request.method == hdrs.METH_OPTIONS
        and origin is not None
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    ):
        settings = request.app[SETTINGS]
        if origin not in settings.cors_origins:
            # Outside the error middleware (preflights are answered first): render here.
            return ready(error_response(ORIGIN_NOT_ALLOWED()))
        return ready(
            web.Response(
                status=204,
                headers={
                    hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOWED_METHODS,
                    hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOWED_HEADERS,
                    hdrs.ACCESS_CONTROL_MAX_AGE: str(PREFLIGHT_MAX_AGE_S),
                },
            )
        )
    return handler(request)


async def cors_on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or origin not in request.app[SETTINGS].cors_origins:
        return
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSED_HEADERS
    response.headers.add(hdrs.VARY, "Origin")


# --- streams ---------------------------------------------------------------------------------


@web.middleware
def stream_guard_middleware(
    request: web.Request, handler: Handler
) -> Awaitable[web.StreamResponse]:
    """A stream's slot is taken here, then held by ``guarding`` exactly as long as the stream
    is open (an SSE or WebSocket handler returns only when its stream ends)."""
    if not is_stream(request):
        return handler(request)
    client = request.remote or "unknown"
    request.app[STREAM_SLOTS].acquire(client)  # 429 as JSON: the error middleware is around
    return guarding(request, handler, client)


async def guarding(request: web.Request, handler: Handler, client: str) -> web.StreamResponse:
    """The one middleware frame a stream holds while its handler runs (middlewares.py): its
    open request counted (capacity.py), its slot, its gauge, and its errors rendered as JSON
    (the error middleware has let it through). A WebSocket handler returns when its stream
    ends; an SSE handler returns once its connection is handed over to the stream
    (live/sse.py), which then gives all this back when it ends."""
    app = request.app
    app[OPEN_REQUESTS].open += 1
    transport = "ws" if request.path == WS_PATH else "sse"
    app[METRICS].subscriber_opened(transport)
    release: Callable[[], None] | None = partial(release_stream, app, transport, client)
    try:
        resp = await handler(request)
        stream = request.get(HANDED_OVER)
        if stream is not None:
            stream.on_end(release)
            release = None
        return resp
    except Exception as exc:
        return render_error(request, exc)
    finally:
        if release is not None:
            release()


def release_stream(app: web.Application, transport: str, client: str) -> None:
    app[METRICS].subscriber_closed(transport)
    app[STREAM_SLOTS].release(client)
    app[OPEN_REQUESTS].open -= 1


def setup_security(app: web.Application, settings: Settings) -> None:
    """Everything but the middlewares themselves, whose order create_app fixes."""
    app[STREAM_SLOTS] = StreamSlots(settings.max_streams_per_client)
    app.on_response_prepare.append(cors_on_prepare)
