"""Offline counts for a fresh machine: deterministic, plausible, and clearly not real.

A keyword's popularity comes from sha256(keyword), and each category scales it with a
small wobble from sha256(keyword|category). Sharing the popularity keeps a keyword's
categories in a believable order (blog > cafe > news ...) instead of independent noise.
"""

from __future__ import annotations

import hashlib

from server.categories import CATEGORIES
from server.work.providers.base import KeywordError, RateLimiter
from server.work.providers.volume_base import BELOW_VALUE, VolumeRow, normalise, volume_row

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

    async def quota_resets_at(self) -> int | None:
        return None

    async def close(self) -> None:
        pass


DEMO_AD_KEY = "demo-searchad"
# Relatives the demo invents for a hint: plausible Korean search suffixes.
_DEMO_SUFFIXES = ("추천", "후기", "가격", "순위", "비교", "방법", "브랜드", "할인")
_DEMO_COMP = ("낮음", "중간", "높음")


def demo_volume(keyword: str) -> VolumeRow:
    """Deterministic monthly searches for ``keyword`` (normalised, as Naver would see it).
    Shares the demo counts' popularity, and about one keyword in eight is "< 10" on PC."""
    key = normalise(keyword)
    popularity = _unit(f"{key}|*") ** 3
    pc = int(60_000 * popularity * (0.5 + 0.5 * _unit(f"{key}|pc")))
    mobile = int(180_000 * popularity * (0.5 + 0.5 * _unit(f"{key}|mobile")))
    pc_below = pc < BELOW_VALUE or _unit(f"{key}|rare") < 0.125
    mobile_below = mobile < BELOW_VALUE
    comp = _DEMO_COMP[int(_unit(f"{key}|comp") * 3)]
    return volume_row(
        BELOW_VALUE if pc_below else pc,
        pc_below,
        BELOW_VALUE if mobile_below else mobile,
        mobile_below,
        comp,
        "demo",
    )


class DemoVolumeProvider:
    """Search volumes for a machine without Search Ad credentials, marked ``"source": "demo"``,
    paced like the real API so a demo job behaves as a live one would."""

    name: str = "demo"
    origin: str = "demo"

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self.calls = 0

    async def lookup(self, hints: list[str]) -> list[tuple[str, VolumeRow]]:
        await self._limiter.acquire(DEMO_AD_KEY)
        self.calls += 1
        rows = [(normalise(h), demo_volume(h)) for h in hints]
        for hint in hints:
            for suffix in _DEMO_SUFFIXES:
                related = f"{normalise(hint)}{suffix}"
                rows.append((related, demo_volume(related)))
        return rows

    async def close(self) -> None:
        pass
