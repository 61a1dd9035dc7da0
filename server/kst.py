"""Korean Standard Time days: the unit Naver counts its daily quota in (it resets at midnight
KST). Used by the provider (retiring a key until midnight, counting calls per day) and by the
stats endpoint (calls today)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

# Korea has had no daylight saving time since 1988: a fixed offset is exact.
KST_OFFSET_MS = 9 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000
# naver-api.md: 25,000 calls a day per application (Client ID), all categories together.
DAILY_QUOTA_CALLS = 25_000
KST = timezone(timedelta(hours=9), "KST")


def kst_day(now_ms: int) -> int:
    """Days since the epoch, counted in KST."""
    return (now_ms + KST_OFFSET_MS) // DAY_MS


def next_kst_midnight_ms(now_ms: int) -> int:
    """Epoch ms of the next 00:00 in Asia/Seoul strictly after ``now_ms`` (daily quota reset)."""
    return (kst_day(now_ms) + 1) * DAY_MS - KST_OFFSET_MS


def kst_date(now_ms: int) -> str:
    """``YYYY-MM-DD`` of the KST day ``now_ms`` falls in."""
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(KST).strftime("%Y-%m-%d")


def format_kst(ms: int) -> str:
    """``YYYY-MM-DD HH:MM KST``, for messages people read."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(KST).strftime("%Y-%m-%d %H:%M KST")
