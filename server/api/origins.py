"""Which pages and which host names may drive the service: cross-site requests and DNS rebinding.

Two middlewares, both driven by Settings:

- ``host_middleware`` (DNS rebinding): while the service listens on a loopback address, or when
  ``--allowed-host`` names are given, a request's ``Host`` must be a loopback name or one of those
  names; otherwise 421 ``host_not_allowed``. A page on ``attacker.example`` whose name was
  re-pointed at 127.0.0.1 sends ``Host: attacker.example`` and is refused before anything runs.
- ``cross_origin_middleware`` (CSRF): requests that change state or spend upstream quota (any
  POST/PUT/PATCH/DELETE, ``GET /api/documents/count``, the WebSocket upgrade) are refused with
  403 ``cross_origin`` when the browser says another page sent them: an ``Origin`` that is not
  the service's own nor on ``--cors-origin``; without ``Origin``, ``Sec-Fetch-Site: cross-site``
  or ``same-site``; without either, a ``Referer`` from another origin. A request with none of
  these headers is not a browser's cross-site request (curl, scripts) and passes, as does the
  seed's same-origin ``fetch``, which sends its own ``Origin``.

"Own origin" is host and port only: behind a TLS-terminating proxy the scheme seen here is http
while the page's is https. It is compared with the request's ``Host``, which the host check has
already vetted whenever it is on, so a rebound name can never count as "own".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from server.appkeys import SETTINGS
from server.errors import CROSS_ORIGIN, HOST_NOT_ALLOWED
from server.settings import Settings

COUNT_PATH = "/api/documents/count"
WS_PATH = "/api/documents/ws"
SAFE_METHODS = frozenset({hdrs.METH_GET, hdrs.METH_HEAD, hdrs.METH_OPTIONS})
FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})
LOOPBACK_NAMES = frozenset({"localhost"})


def hostname_of(netloc: str) -> str | None:
    """The host name of ``host[:port]`` (IPv6 in brackets), lower case; None if unparsable."""
    try:
        name = urlsplit(f"//{netloc}").hostname
    except ValueError:
        return None
    return name.rstrip(".").lower() if name else None


def is_loopback_name(name: str) -> bool:
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_check_on(settings: Settings) -> bool:
    """Only a loopback listener is sure to be reached by browsers of this machine alone (the
    rebinding target); elsewhere the operator opts in by naming the hosts."""
    return bool(settings.allowed_hosts) or is_loopback_name(settings.host.strip("[]").lower())


def host_allowed(name: str | None, settings: Settings) -> bool:
    if name is None:
        return False
    return is_loopback_name(name) or name in {h.lower() for h in settings.allowed_hosts}


@web.middleware
def host_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    settings = request.app[SETTINGS]
    if host_check_on(settings) and not host_allowed(hostname_of(request.host), settings):
        raise HOST_NOT_ALLOWED()
    return handler(request)  # frameless (middlewares.py)


def own_origin(request: web.Request, origin: str) -> bool:
    netloc = urlsplit(origin).netloc.lower()
    if netloc != request.host.lower():
        return False
    settings = request.app[SETTINGS]
    return not host_check_on(settings) or host_allowed(hostname_of(netloc), settings)


def origin_allowed(request: web.Request, origin: str) -> bool:
    return origin in request.app[SETTINGS].cors_origins or own_origin(request, origin)


def guarded(request: web.Request) -> bool:
    """Requests a foreign page must not be able to send: they change state or cost quota."""
    return request.method not in SAFE_METHODS or request.path in (COUNT_PATH, WS_PATH)


def sent_by_another_page(request: web.Request) -> bool:
    headers = request.headers
    origin = headers.get(hdrs.ORIGIN)
    if origin is not None:
        # "null" (sandboxed frames, some redirects) is nobody's own origin.
        return not origin_allowed(request, origin)
    if headers.get("Sec-Fetch-Site", "").lower() in FOREIGN_FETCH_SITES:
        return True
    referer = headers.get(hdrs.REFERER)
    if referer:
        parts = urlsplit(referer)
        return not origin_allowed(request, f"{parts.scheme}://{parts.netloc}")
    return False


@web.middleware
def cross_origin_middleware(
    request: web.Request, handler: Handler
) -> Awaitable[web.StreamResponse]:
    if guarded(request) and sent_by_another_page(request):
        raise CROSS_ORIGIN()
    return handler(request)  # frameless (middlewares.py)
