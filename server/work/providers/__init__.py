"""Where counts come from: the real Naver client, or deterministic demo numbers."""

from __future__ import annotations

import logging

import aiohttp

from server.settings import Settings
from server.work.providers.base import KeyRegistry, Provider, RateLimiter
from server.work.providers.demo import DemoProvider, DemoVolumeProvider
from server.work.providers.naver import NaverProvider
from server.work.providers.searchad import SearchAdProvider
from server.work.providers.volume_base import VolumeProvider

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


def make_volume_provider(
    settings: Settings, session: aiohttp.ClientSession, limiter: RateLimiter
) -> VolumeProvider | None:
    """The monthly search volume source, or None when volumes are off."""
    if settings.volume_provider == "naver":
        return SearchAdProvider(settings, session, limiter)
    if settings.volume_provider == "demo":
        log.warning("volume provider demo: search volumes are deterministic placeholders")
        return DemoVolumeProvider(limiter)
    return None
