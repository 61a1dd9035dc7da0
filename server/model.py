"""The job model: ids, statuses, priorities, and validation of what a client submits."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from server.categories import UnknownCategoryError, parse_categories
from server.errors import ApiError

PENDING = "pending"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})

PRIORITIES: dict[str, int] = {"high": 0, "normal": 1, "low": 2}
PRIORITY_NAMES: dict[int, str] = {v: k for k, v in PRIORITIES.items()}

# The seed's "batch_<ms>_" prefix, then 128 random bits: ids are unguessable.
JOB_ID_RE = re.compile(r"^batch_\d{10,16}_[A-Za-z0-9_-]{22}$")

# The jobs feed is a log like any job's, under a name no job id can take.
JOBS_FEED = "*jobs"


def now_ms() -> int:
    return int(time.time() * 1000)


def new_job_id(created_ms: int) -> str:
    return f"batch_{created_ms}_{secrets.token_urlsafe(16)}"


def check_job_id(raw: object) -> str:
    if not isinstance(raw, str) or not raw:
        raise ApiError(400, "missing_job_id", "jobId가 필요합니다")
    if not JOB_ID_RE.match(raw):
        raise ApiError(400, "invalid_job_id", "jobId 형식이 올바르지 않습니다")
    return raw


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A validated submission, ready to be stored."""

    id: str
    keywords: tuple[str, ...]
    categories: tuple[str, ...]
    priority: int
    created_ms: int
    source: str
    client: str
    # Shown in job lists, the CLI and exports; None only for jobs from before names existed.
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """What a worker needs to (re)start a job: ``next_index`` is the first keyword without a
    stored result."""

    id: str
    keywords: tuple[str, ...]
    categories: tuple[str, ...]
    next_index: int
    started_ms: int


def parse_submission(
    body: Any,
    *,
    default_categories: tuple[str, ...],
    max_keywords: int,
    max_keyword_chars: int,
) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """Validate a batch body: (keywords, categories, priority rank). Raises ApiError (400)."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "요청 본문은 JSON 객체여야 합니다")
    raw_keywords = body.get("keywords")
    if raw_keywords is None:
        raise ApiError(400, "missing_keywords", "keywords 배열이 필요합니다")
    if not isinstance(raw_keywords, list):
        raise ApiError(400, "invalid_keywords", "keywords는 문자열 배열이어야 합니다")
    if not raw_keywords:
        raise ApiError(400, "empty_keywords", "키워드를 하나 이상 입력하세요")
    if len(raw_keywords) > max_keywords:
        raise ApiError(
            400,
            "too_many_keywords",
            f"키워드는 한 번에 최대 {max_keywords:,}개까지 가능합니다 "
            f"(입력: {len(raw_keywords):,}개)",
        )
    keywords: list[str] = []
    for pos, item in enumerate(raw_keywords, start=1):
        if not isinstance(item, str):
            raise ApiError(400, "invalid_keyword", f"{pos}번째 키워드가 문자열이 아닙니다")
        keyword = " ".join(item.split())  # trims and folds inner runs of white space
        if not keyword:
            raise ApiError(400, "empty_keyword", f"{pos}번째 키워드가 비어 있습니다")
        if len(keyword) > max_keyword_chars:
            raise ApiError(
                400,
                "keyword_too_long",
                f"{pos}번째 키워드가 너무 깁니다 (최대 {max_keyword_chars}자)",
            )
        keywords.append(keyword)

    raw_categories = body.get("categories")
    if raw_categories is None:
        categories = default_categories
    elif not isinstance(raw_categories, list) or not all(
        isinstance(c, str) for c in raw_categories
    ):
        raise ApiError(400, "invalid_categories", "categories는 문자열 배열이어야 합니다")
    else:
        try:
            categories = parse_categories(raw_categories)
        except UnknownCategoryError as exc:
            raise ApiError(400, "unknown_category", str(exc)) from None

    raw_priority = body.get("priority", "normal")
    if raw_priority is None:
        raw_priority = "normal"
    if not isinstance(raw_priority, str) or raw_priority not in PRIORITIES:
        raise ApiError(400, "invalid_priority", "priority는 high, normal, low 중 하나여야 합니다")
    return tuple(keywords), categories, PRIORITIES[raw_priority]


MAX_NAME_CHARS = 100


def default_name(keywords: tuple[str, ...]) -> str:
    """ "캠핑 의자 외 29개": the first keyword and how many more."""
    first = keywords[0] if keywords else ""
    if len(first) > MAX_NAME_CHARS - 12:
        first = first[: MAX_NAME_CHARS - 13] + "…"
    return first if len(keywords) <= 1 else f"{first} 외 {len(keywords) - 1:,}개"


def parse_name(body: dict[str, Any], keywords: tuple[str, ...]) -> str:
    """The job's ``name`` from a batch body (trimmed), else ``default_name``. Raises ApiError."""
    raw = body.get("name")
    if raw is None:
        return default_name(keywords)
    if not isinstance(raw, str):
        raise ApiError(400, "invalid_name", "name은 문자열이어야 합니다")
    name = " ".join(raw.split())
    if len(name) > MAX_NAME_CHARS:
        raise ApiError(400, "name_too_long", f"작업 이름이 너무 깁니다 (최대 {MAX_NAME_CHARS}자)")
    return name or default_name(keywords)
