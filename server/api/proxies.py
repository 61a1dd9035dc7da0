"""The client's real address behind trusted reverse proxies (``--trusted-proxy``).

Every per-client limit (queued jobs, open streams, idempotency keys) is keyed by the client's
address. Behind a proxy the peer is the proxy, and every user would share its one address. So
when, and only when, the peer is a trusted proxy, the address comes from the proxy's headers:
``X-Forwarded-For`` (what nginx's ``$proxy_add_x_forwarded_for`` sends), else ``Forwarded``
(RFC 7239). Either is read from the right, skipping trusted proxies: the first untrusted hop is
the client. Hops further left were written by the client itself and could be anything, so they
are never believed. A peer that is not a trusted proxy keeps its own address, whatever headers
it sends. A small middleware rather than a library: aiohttp-remotes also rewrites the scheme
and host and refuses untrusted peers, where here they must only be ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from server.appkeys import SETTINGS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUSTED_NETWORKS = web.AppKey("trusted_networks", tuple)


def parse_address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:80``, ``2001:db8::1``, quoted or not."""
    text = raw.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_trusted(address: str | None, networks: tuple[Network, ...]) -> bool:
    ip = parse_address(address or "")
    return ip is not None and any(ip in net for net in networks)


def hops(request: web.Request) -> list[str]:
    """The forwarded-for chain, client first: X-Forwarded-For, else Forwarded's ``for=``."""
    xff = request.headers.getall(hdrs.X_FORWARDED_FOR, [])
    if xff:
        return [h.strip() for value in xff for h in value.split(",") if h.strip()]
    return [str(e["for"]) for e in request.forwarded if "for" in e]


def client_of(peer: str | None, chain: Iterable[str], networks: tuple[Network, ...]) -> str | None:
    """The address to count as the client's (None: keep the peer's)."""
    if not networks or not is_trusted(peer, networks):
        return None
    found: str | None = None
    for hop in reversed(list(chain)):
        ip = parse_address(hop)
        if ip is None:
            break  # garbage (or "unknown"): believe nothing further left
        found = str(ip)
        if not any(ip in net for net in networks):
            return found
    return found  # every hop a trusted proxy: the leftmost one is as far as we can see


@web.middleware
def proxy_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    # Frameless (middlewares.py): the next handler's awaitable is returned, not awaited.
    networks = request.app[TRUSTED_NETWORKS]
    if networks:
        client = client_of(request.remote, hops(request), networks)
        if client is not None and client != request.remote:
            request = request.clone(remote=client)
    return handler(request)


def setup_proxies(app: web.Application) -> None:
    app[TRUSTED_NETWORKS] = tuple(
        ipaddress.ip_network(p, strict=False) for p in app[SETTINGS].trusted_proxies
    )
