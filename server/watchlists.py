"""Watchlists: a named keyword list counted again on a schedule (daily at HH:MM KST, or every
N hours), active or paused. Validation of what a client sends, and the schedule's arithmetic.

Due times are whole, fixed points (each day's HH:MM KST; or creation + k x N hours), so every
node computes the same due time for a run, and that time names the run: the scheduler creates
a job only for a (watchlist, due time) it claims first (server/work/scheduler.py). When the
service was down over several due times, only the latest one is due: a missed run runs once.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from server.errors import (
    INVALID_SCHEDULE,
    INVALID_WATCHLIST,
    INVALID_WATCHLIST_ID,
    INVALID_WATCHLIST_NAME,
)
from server.kst import DAY_MS, KST_OFFSET_MS
from server.model import parse_submission

HOUR_MS = 3_600_000
NAME_MAX_CHARS = 100
INTERVAL_HOURS_MAX = 24 * 30
WATCHLIST_ID_RE = re.compile(r"^wl_[A-Za-z0-9_-]{16}$")
HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
FIELDS = ("name", "keywords", "categories", "schedule", "paused")


def new_watchlist_id() -> str:
    return "wl_" + secrets.token_urlsafe(12)


def check_watchlist_id(raw: str) -> str:
    if not WATCHLIST_ID_RE.match(raw):
        raise INVALID_WATCHLIST_ID()
    return raw


def parse_schedule(raw: Any) -> dict[str, Any]:
    """``{"daily": "09:30"}`` (KST) or ``{"everyHours": 6}``."""
    if not isinstance(raw, dict):
        raise INVALID_SCHEDULE(limit=INTERVAL_HOURS_MAX)
    daily, hours = raw.get("daily"), raw.get("everyHours")
    if set(raw) == {"daily"} and isinstance(daily, str) and HHMM_RE.match(daily):
        return {"daily": daily}
    if (
        set(raw) == {"everyHours"}
        and isinstance(hours, int)
        and not isinstance(hours, bool)
        and 1 <= hours <= INTERVAL_HOURS_MAX
    ):
        return {"everyHours": hours}
    raise INVALID_SCHEDULE(limit=INTERVAL_HOURS_MAX)


def parse_watchlist(
    body: Any,
    *,
    current: dict[str, Any] | None,
    default_categories: tuple[str, ...],
    max_keywords: int,
    max_keyword_chars: int,
) -> dict[str, Any]:
    """The fields of a new watchlist (``current`` None: name, keywords and schedule required)
    or of a change to ``current`` (any of them). Raises ApiError (400)."""
    if not isinstance(body, dict) or not body or not set(body) <= set(FIELDS):
        raise INVALID_WATCHLIST()
    out: dict[str, Any] = {}
    if "name" in body or current is None:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX_CHARS:
            raise INVALID_WATCHLIST_NAME(limit=NAME_MAX_CHARS)
        out["name"] = " ".join(name.split())
    if "keywords" in body or "categories" in body or current is None:
        keywords, categories, _ = parse_submission(
            {
                "keywords": body.get("keywords", None if current is None else current["keywords"]),
                "categories": body.get(
                    "categories", None if current is None else current["categories"]
                ),
            },
            default_categories=default_categories,
            max_keywords=max_keywords,
            max_keyword_chars=max_keyword_chars,
        )
        out["keywords"], out["categories"] = list(keywords), list(categories)
    if "schedule" in body or current is None:
        out["schedule"] = parse_schedule(body.get("schedule"))
    if "paused" in body:
        if not isinstance(body["paused"], bool):
            raise INVALID_WATCHLIST()
        out["paused"] = body["paused"]
    return out


def latest_due(schedule: dict[str, Any], anchor_ms: int, now_ms: int) -> int | None:
    """The newest due time in ``(anchor_ms, now_ms]``, or None. ``anchor_ms``: the last due
    time already run (or the watchlist's creation)."""
    if "daily" in schedule:
        hh, mm = (int(x) for x in schedule["daily"].split(":"))
        offset = (hh * 60 + mm) * 60_000
        # Today's slot in KST (as epoch ms); yesterday's if today's has not come yet.
        day_start = (now_ms + KST_OFFSET_MS) // DAY_MS * DAY_MS - KST_OFFSET_MS
        due = day_start + offset
        if due > now_ms:
            due -= DAY_MS
    else:
        step = int(schedule["everyHours"]) * HOUR_MS
        if now_ms <= anchor_ms:
            return None
        due = anchor_ms + (now_ms - anchor_ms) // step * step
    return due if due > anchor_ms else None


def next_due(schedule: dict[str, Any], anchor_ms: int, now_ms: int) -> int:
    """The first due time after ``max(anchor_ms, now_ms)``: what the dashboard shows."""
    after = max(anchor_ms, now_ms)
    if "daily" in schedule:
        hh, mm = (int(x) for x in schedule["daily"].split(":"))
        offset = (hh * 60 + mm) * 60_000
        day_start = (after + KST_OFFSET_MS) // DAY_MS * DAY_MS - KST_OFFSET_MS
        due = day_start + offset
        return due if due > after else due + DAY_MS
    step = int(schedule["everyHours"]) * HOUR_MS
    return anchor_ms + ((after - anchor_ms) // step + 1) * step
