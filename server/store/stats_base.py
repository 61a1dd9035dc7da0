"""Daily figures for /api/stats: counters per KST day, bumped in the same write as the job, the
result or the upstream call they count, so reading them never touches jobs, results or the
history (a few dozen rows for the whole window, whatever the number of jobs kept).

Rows are ``(day, metric, dim, n)``: ``day`` in KST days since the epoch (server.kst.kst_day),
``metric`` one of the names below, ``dim`` what it is broken down by (an error code, a key's
client id; "" for none). Calls per key come from the key registry's own per-day counters
(``key_calls`` in SQLite, ``dc:calls:{day}`` in Redis), kept for the window too: each fact is
counted once.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from server import model
from server.categories import CATEGORIES
from server.kst import kst_day

# The window /api/stats reports: today and the 29 days before (KST).
STATS_DAYS = 30

JOBS = "jobs"  # jobs created (submitted and accepted)
KEYWORDS = "keywords"  # results committed (a keyword counted, with or without errors)
HITS = "hits"  # categories of committed results served by the cache
FRESH = "fresh"  # categories of committed results asked of the upstream (counted or failed)
FAILURES = "fail"  # dim: the error code of a category that failed
CALLS = "calls"  # dim: the key's client id (never leaves the process; shown by label)
JOB_FAILURES = "jobfail"  # dim: the code of the error a job failed with
# A job that failed on something other than the upstream (a bug): counted under this code.
INTERNAL_CODE = "internal_error"

# A failed result that names no category (none today): counted under this code.
UNKNOWN_CODE = "unknown"


class Bump(NamedTuple):
    metric: str
    dim: str
    n: int


class DayRow(NamedTuple):
    day: int
    metric: str
    dim: str
    n: int


def first_day(today: int) -> int:
    """The oldest KST day of the window ending ``today``."""
    return today - STATS_DAYS + 1


def result_bumps(result: Mapping[str, Any]) -> list[Bump]:
    """What one committed result adds: a keyword, and per category a cache hit or a fresh
    lookup; each failed category also under its error code (``errorCodes``, server.work.counting).
    """
    errors = result.get("errors") or {}
    failed = [c for c in errors if c in CATEGORIES]  # not "searchVolume": no lookup of ours
    cached = result.get("cached") or []
    categories = len(result.get("counts") or {}) + len(failed)
    bumps = [Bump(KEYWORDS, "", 1)]
    if cached:
        bumps.append(Bump(HITS, "", len(cached)))
    if categories > len(cached):
        bumps.append(Bump(FRESH, "", categories - len(cached)))
    codes: dict[str, int] = {}
    for category in failed:
        code = str((result.get("errorCodes") or {}).get(category) or UNKNOWN_CODE)
        codes[code] = codes.get(code, 0) + 1
    if not failed and result.get("error") is not None:
        codes[UNKNOWN_CODE] = 1
    bumps.extend(Bump(FAILURES, code, n) for code, n in sorted(codes.items()))
    return bumps


class StatsStore(abc.ABC):
    """The engine's side of the rollup. The engines call their module's hooks inside the
    transaction (SQLite) or script (Redis) that creates a job or commits a result."""

    def __init__(self) -> None:
        # Which KST day a job or a result counts for. Tests pass a fake clock.
        self.clock_ms: Callable[[], int] = lambda: model.now_ms()

    def today(self) -> int:
        return kst_day(self.clock_ms())

    @abc.abstractmethod
    async def add(self, bumps: Iterable[Bump]) -> None:
        """Bump today's counters in a write of their own, for what no job or result write
        carries (why a job failed). Raises StoreUnavailableError like any write."""

    @abc.abstractmethod
    async def rows(self, first: int, last: int) -> list[DayRow]:
        """Every counter of days ``first``..``last`` (calls per key included), in no order."""

    @abc.abstractmethod
    async def prune(self, before_day: int) -> int:
        """Delete counters of days before ``before_day``; how many rows went (Redis: 0, its
        day hashes expire by themselves)."""
