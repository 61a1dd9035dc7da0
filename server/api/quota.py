"""The quota plan a submission is answered with: the calls the job needs, what the key pool has
left today (KST), whether it fits, and if not, when it would finish."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from server.appkeys import SETTINGS, STORE
from server.kst import DAILY_QUOTA_CALLS, DAY_MS, kst_day, next_kst_midnight_ms


async def quota_plan(
    app: web.Application, keywords: tuple[str, ...], categories: tuple[str, ...], now_ms: int
) -> dict[str, Any] | None:
    """None when no quota applies (the demo provider). ``callsNeeded`` counts each distinct
    keyword once per category, before the cache: an upper bound."""
    settings = app[SETTINGS]
    if settings.provider != "naver" or not settings.naver_keys:
        return None
    registry = app[STORE].key_registry()
    calls = await registry.calls_on(kst_day(now_ms))
    retired = await registry.retired()
    usable = [k for k in settings.naver_keys if k.client_id not in retired]
    left = sum(max(0, DAILY_QUOTA_CALLS - calls.get(k.client_id, 0)) for k in usable)
    needed = len(set(keywords)) * len(categories)
    fits = needed <= left
    finishes: int | None = None
    if not fits:
        # What today cannot take runs from the next midnights on, a full pool per day.
        per_day = DAILY_QUOTA_CALLS * len(settings.naver_keys)
        days = math.ceil((needed - left) / per_day)
        finishes = next_kst_midnight_ms(now_ms) + (days - 1) * DAY_MS
    return {
        "callsNeeded": needed,
        "callsLeftToday": left,
        "fits": fits,
        # Not before this KST day starts (null when it fits today).
        "finishesNotBefore": finishes,
    }
