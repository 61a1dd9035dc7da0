"""Where counts come from: the real Naver client, or deterministic demo numbers."""

from __future__ import annotations

import logging

import aiohttp

from server.settings import Settings
from server.work.providers.base import KeyRegistry, Provider, RateLimiter
from server.work.providers.demo import DemoProvider
from server.work.providers.naver import NaverProvider

log = logging.getLogger("doccount.providers")


def make_provider(
    settings: Settings, session: aiohttp.ClientSession, limiter: RateLimiter, keys: KeyRegistry
) -> Provider:
    if settings.provider == "naver":
        return NaverProvider(settings, session, limiter, keys)
    if settings.provider == "demo":
        log.warning(
            "provider demo: counts are deterministic placeholders, NOT real Naver numbers "
            "(set NAVER_CLIENT_ID/NAVER_CLIENT_SECRET or NAVER_API_KEYS for real counts)"
        )
        return DemoProvider(limiter)
    raise ValueError(f"unknown provider {settings.provider!r} (naver or demo)")
