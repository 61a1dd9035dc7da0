"""The daily figures of /api/stats (``daily``): jobs and keywords per KST day for the last
STATS_DAYS days, calls per key, the cache's hit rate and failures by error code; per day and
over the window. Read from the store's day counters (server/store/stats_base.py): a few dozen
rows, however many jobs, results and observations are kept."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from server.settings import NaverKey, Settings
from server.store.base import Store
from server.store.stats_base import (
    CALLS,
    FAILURES,
    FRESH,
    HITS,
    JOB_FAILURES,
    JOBS,
    KEYWORDS,
    STATS_DAYS,
    DayRow,
    first_day,
)

EPOCH = date(1970, 1, 1)


def day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a KST day number (server.kst.kst_day)."""
    return (EPOCH + timedelta(days=day)).isoformat()


def hit_rate(hits: int, fresh: int) -> float | None:
    return round(hits / (hits + fresh), 4) if hits + fresh else None


def empty() -> dict[str, Any]:
    return {
        "jobs": 0,
        "keywords": 0,
        "cacheHits": 0,
        "freshLookups": 0,
        "hitRate": None,
        "failures": {},
        "jobFailures": {},
        "callsByKey": {},
    }


def add(figures: dict[str, Any], row: DayRow, labels: dict[str, str]) -> None:
    if row.metric == JOBS:
        figures["jobs"] += row.n
    elif row.metric == KEYWORDS:
        figures["keywords"] += row.n
    elif row.metric == HITS:
        figures["cacheHits"] += row.n
    elif row.metric == FRESH:
        figures["freshLookups"] += row.n
    elif row.metric == FAILURES:
        figures["failures"][row.dim] = figures["failures"].get(row.dim, 0) + row.n
    elif row.metric == JOB_FAILURES:
        figures["jobFailures"][row.dim] = figures["jobFailures"].get(row.dim, 0) + row.n
    elif row.metric == CALLS:
        # By label only: a key's id and secret never leave the process.
        label = labels.get(row.dim) or NaverKey(row.dim, "").label
        figures["callsByKey"][label] = figures["callsByKey"].get(label, 0) + row.n


def summarise(rows: list[DayRow], today: int, keys: tuple[NaverKey, ...]) -> dict[str, Any]:
    first = first_day(today)
    labels = {k.client_id: k.label for k in keys}
    days = {day: empty() for day in range(first, today + 1)}
    total = empty()
    for row in rows:
        if row.day in days:
            add(days[row.day], row, labels)
            add(total, row, labels)
    for figures in (*days.values(), total):
        figures["hitRate"] = hit_rate(figures["cacheHits"], figures["freshLookups"])
        figures["failures"] = dict(sorted(figures["failures"].items()))
        figures["jobFailures"] = dict(sorted(figures["jobFailures"].items()))
        figures["callsByKey"] = dict(sorted(figures["callsByKey"].items()))
    return {
        "days": STATS_DAYS,
        "from": day_text(first),
        "to": day_text(today),
        "perDay": [{"day": day_text(day), **figures} for day, figures in days.items()],
        "total": total,
    }


async def daily_stats(store: Store, settings: Settings) -> dict[str, Any]:
    today = store.stats.today()
    rows = await store.stats.rows(first_day(today), today)
    return summarise(rows, today, settings.naver_keys)
