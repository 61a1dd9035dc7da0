"""Stream tokens: short-lived, signed, scoped to one job (or the jobs feed).

A browser's EventSource cannot send an ``Authorization`` header, so a stream used to carry the
API token in its URL (``?token=``), where proxies and browser histories keep it. With an API
token set, ``POST /api/documents/batch`` also answers a stream token for the new job, and
``POST /api/documents/jobs/{id}/stream-token`` (or ``POST /api/documents/stream-token`` with
``{"jobs": "all"}`` for the jobs feed) issues one. SSE, WebSocket and the status poll accept it,
for its job only; the API token itself is refused in a URL unless ``--allow-token-in-url``.

Format: ``st1.<scope, base64url>.<expiry, Unix s>.<HMAC-SHA256, base64url>``. The key is derived
from the API token, so every node checks every node's tokens with no new setting, and changing
the API token voids them all. Nothing is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from server.settings import Settings

PREFIX = "st1"
KEY_LABEL = b"doccount stream token v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(api_token: str) -> bytes:
    return hmac.new(api_token.encode(), KEY_LABEL, hashlib.sha256).digest()


def _mac(api_token: str, body: str) -> str:
    return _b64(hmac.new(_key(api_token), body.encode(), hashlib.sha256).digest())


def issue(api_token: str, scope: str, ttl_s: float, now_s: float | None = None) -> tuple[str, int]:
    """(token, expiry in epoch ms) for ``scope`` (a job id, or JOBS_FEED)."""
    expires_s = int((time.time() if now_s is None else now_s) + ttl_s)
    body = f"{PREFIX}.{_b64(scope.encode())}.{expires_s}"
    return f"{body}.{_mac(api_token, body)}", expires_s * 1000


def looks_like(token: str) -> bool:
    return token.startswith(PREFIX + ".")


def verify(api_token: str, token: str, now_s: float | None = None) -> str | None:
    """The token's scope, or None: malformed, forged or expired (all alike to the caller)."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX or not parts[2].isdigit():
        return None
    body = ".".join(parts[:3])
    if not hmac.compare_digest(_mac(api_token, body), parts[3]):
        return None
    if int(parts[2]) < (time.time() if now_s is None else now_s):
        return None
    try:
        return _unb64(parts[1]).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def token_body(settings: Settings, scope: str) -> dict[str, object]:
    """What a response carries: ``streamToken`` and ``streamTokenExpiresAt`` (epoch ms)."""
    assert settings.api_token is not None
    token, expires_ms = issue(settings.api_token, scope, settings.stream_token_ttl_s)
    return {"streamToken": token, "streamTokenExpiresAt": expires_ms}
