"""Typed views of the API's JSON: a job, its results, and the events ``DocCount.watch`` yields.

Each keeps the JSON it was read from in ``raw``, so a field the server adds later (the API only
ever adds fields) is there before this module knows its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

TERMINAL = frozenset({"completed", "failed", "cancelled"})


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class Progress:
    current: int
    total: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        return cls(int(data.get("current", 0)), int(data.get("total", 0)))


@dataclass(frozen=True, slots=True)
class Result:
    """One keyword's counts. ``error`` is set when some category could not be counted (its
    count is then missing from ``counts``: never a made-up 0)."""

    index: int
    keyword: str
    counts: dict[str, int]
    source: str | None = None
    cached: tuple[str, ...] = ()
    error: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], index: int | None = None) -> Result:
        raw_index = data.get("index")
        return cls(
            index=raw_index if isinstance(raw_index, int) else (index if index is not None else -1),
            keyword=str(data.get("keyword", "")),
            counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()},
            source=data.get("source"),
            cached=tuple(data.get("cached") or ()),
            error=data.get("error"),
            errors=dict(data.get("errors") or {}),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    at_ms: int
    ok: bool
    status: int | None = None
    error: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WebhookAttempt:
        return cls(
            at_ms=int(data.get("at", 0)),
            ok=bool(data.get("ok")),
            status=_int_or_none(data.get("status")),
            error=data.get("error"),
        )


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    status: str
    progress: Progress
    categories: tuple[str, ...]
    last_event_id: str
    priority: str | None = None
    queue_position: int | None = None
    created_at_ms: int | None = None
    started_at_ms: int | None = None
    completed_at_ms: int | None = None
    error: str | None = None
    source: str | None = None
    name: str | None = None
    results: tuple[Result, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(
            id=str(data["id"]),
            status=str(data["status"]),
            progress=Progress.from_json(data.get("progress") or {}),
            categories=tuple(data.get("categories") or ()),
            last_event_id=str(data.get("lastEventId", "0")),
            priority=data.get("priority"),
            queue_position=_int_or_none(data.get("queuePosition")),
            created_at_ms=_int_or_none(data.get("createdAt")),
            started_at_ms=_int_or_none(data.get("startedAt")),
            completed_at_ms=_int_or_none(data.get("completedAt")),
            error=data.get("error"),
            source=data.get("source"),
            name=data.get("name"),
            results=tuple(Result.from_json(r, i) for i, r in enumerate(data.get("results") or ())),
            raw=data,
        )


# --- what DocCount.watch yields -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultEvent:
    """A keyword done. Every result of the job is yielded exactly once, reconnects or not."""

    id: str  # resume from here: watch(job_id, last_event_id=id)
    result: Result
    progress: Progress


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    id: str
    progress: Progress
    rate_per_s: float | None = None
    eta_ms: int | None = None
    # Nobody counts the job: "no_worker" while pending; stalled when its worker stopped;
    # "quota" while every key's daily quota is spent, until resumes_at_ms (midnight KST).
    waiting: str | None = None
    stalled: bool = False
    resumes_at_ms: int | None = None


NO_WORKER_TEXT = "작업자 없음"
STALLED_TEXT = "멈춤, 곧 다른 작업자가 이어받습니다"
QUOTA_TEXT = "일일 호출 한도 소진"


def quota_text(resumes_at_ms: Any) -> str:
    """The words of a job paused until the daily quota resets, with when (KST)."""
    if not isinstance(resumes_at_ms, int) or isinstance(resumes_at_ms, bool):
        return f"{QUOTA_TEXT} · 한도가 초기화되면 자동으로 재개합니다"
    # Korea keeps no daylight saving time: a fixed +9 h offset is exact.
    at = datetime.fromtimestamp(resumes_at_ms / 1000, tz=UTC) + timedelta(hours=9)
    return f"{QUOTA_TEXT} · {at:%Y-%m-%d %H:%M} KST에 자동으로 재개합니다"


def plan_text(plan: dict[str, Any]) -> str:
    """The quota plan in words: the calls a job needs, what the keys have left today, and
    whether it finishes today or not before which KST midnight."""
    needed, left = int(plan["callsNeeded"]), int(plan["callsLeftToday"])
    head = f"API 호출 최대 {needed:,}회 · 오늘 남은 한도 {left:,}회"
    if plan.get("fits"):
        return f"{head} · 오늘 안에 끝납니다"
    until = plan.get("finishesNotBefore")
    if not isinstance(until, int) or isinstance(until, bool):
        return f"{head} · 오늘 한도를 넘습니다"
    at = datetime.fromtimestamp(until / 1000, tz=UTC) + timedelta(hours=9)
    return (
        f"{head} · 오늘 한도를 넘습니다: 한도 초기화 후 이어서 조회하며 "
        f"{at:%Y-%m-%d %H:%M} KST 이후에 끝납니다"
    )


def health_text(data: dict[str, Any]) -> str | None:
    """What a person is told instead of a rate and an ETA when nobody counts the job (the
    ``waiting`` / ``stalled`` fields of a job or a progress event), or None."""
    if data.get("stalled") is True:
        return STALLED_TEXT
    if data.get("waiting") == "no_worker":
        return NO_WORKER_TEXT
    if data.get("waiting") == "quota":
        return quota_text(data.get("resumesAtMs"))
    return None


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """The job's status: the first event of a watch, then every change. A terminal one
    (``completed``, ``failed``, ``cancelled``) is the last event."""

    id: str
    status: str
    progress: Progress
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


Event = ResultEvent | ProgressEvent | StatusEvent
