"""Offline counts for a fresh machine: deterministic, plausible, and clearly not real.

A keyword's popularity comes from sha256(keyword), and each category scales it with a
small wobble from sha256(keyword|category). Sharing the popularity keeps a keyword's
categories in a believable order (blog > cafe > news ...) instead of independent noise.
"""

from __future__ import annotations

import hashlib

from server.categories import CATEGORIES
from server.work.providers.base import KeywordError, RateLimiter

DEMO_KEY = "demo"

# Rough upper magnitudes per category; the largest stays within 0..5,000,000.
_SCALE: dict[str, int] = {
    "blog": 5_000_000,
    "web": 3_000_000,
    "image": 2_400_000,
    "cafe": 2_000_000,
    "shop": 1_200_000,
    "news": 800_000,
    "kin": 400_000,
    "doc": 60_000,
    "book": 30_000,
    "encyc": 10_000,
}


def _unit(text: str) -> float:
    """A stable number in [0, 1) from ``text``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def demo_count(keyword: str, category: str) -> int:
    popularity = _unit(f"{keyword}|*") ** 3  # cubed: most keywords are niche, a few are huge
    wobble = 0.6 + 0.4 * _unit(f"{keyword}|{category}")
    return int(_SCALE[category] * popularity * wobble)


class DemoProvider:
    name: str = "demo"
    origin: str = "demo"

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def count(self, keyword: str, category: str) -> int:
        if category not in CATEGORIES or category not in _SCALE:
            raise KeywordError(f"알 수 없는 카테고리: {category}", code="bad_request")
        # Paced like the real thing, so the dashboard and fairness behave as they would live.
        await self._limiter.acquire(DEMO_KEY)
        return demo_count(keyword, category)

    async def unusable(self) -> str | None:
        return None

    async def close(self) -> None:
        pass
