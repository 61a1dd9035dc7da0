"""The job model: ids, statuses, priorities, and validation of what a client submits."""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from server.categories import UnknownCategoryError, parse_categories
from server.errors import (
    EMPTY_KEYWORD,
    EMPTY_KEYWORDS,
    INVALID_BODY,
    INVALID_CATEGORIES,
    INVALID_JOB_ID,
    INVALID_KEYWORD,
    INVALID_KEYWORDS,
    INVALID_NAME,
    INVALID_PRIORITY,
    KEYWORD_TOO_LONG,
    MISSING_JOB_ID,
    MISSING_KEYWORDS,
    NAME_TOO_LONG,
    TOO_MANY_KEYWORDS,
    UNKNOWN_CATEGORY,
)

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


# Unicode categories that print nothing: format (U+200B, U+200F, U+FEFF, ...) and control.
# A keyword of only these looks empty to a person, and Naver would be asked for nothing.
INVISIBLE = frozenset({"Cf", "Cc"})


def now_ms() -> int:
    return int(time.time() * 1000)


def new_job_id(created_ms: int) -> str:
    return f"batch_{created_ms}_{secrets.token_urlsafe(16)}"


def check_job_id(raw: object) -> str:
    if not isinstance(raw, str) or not raw:
        raise MISSING_JOB_ID()
    # fullmatch: "$" would also accept a trailing newline.
    if not JOB_ID_RE.fullmatch(raw):
        raise INVALID_JOB_ID()
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
    priority: int = 1  # rank (PRIORITIES): its weight in sharing the upstream rate


# How active jobs share the upstream rate (server/work/shares.py): a high job gets twice a
# normal one's calls per second, a normal one twice a low one's.
PRIORITY_WEIGHTS: dict[int, int] = {0: 4, 1: 2, 2: 1}


def parse_submission(
    body: Any,
    *,
    default_categories: tuple[str, ...],
    max_keywords: int,
    max_keyword_chars: int,
) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """Validate a batch body: (keywords, categories, priority rank). Raises ApiError (400)."""
    if not isinstance(body, dict):
        raise INVALID_BODY()
    raw_keywords = body.get("keywords")
    if raw_keywords is None:
        raise MISSING_KEYWORDS()
    if not isinstance(raw_keywords, list):
        raise INVALID_KEYWORDS()
    if not raw_keywords:
        raise EMPTY_KEYWORDS()
    if len(raw_keywords) > max_keywords:
        raise TOO_MANY_KEYWORDS(limit=max_keywords, given=len(raw_keywords))
    keywords: list[str] = []
    for pos, item in enumerate(raw_keywords, start=1):
        if not isinstance(item, str):
            raise INVALID_KEYWORD(pos=pos)
        keyword = " ".join(item.split())  # trims and folds inner runs of white space
        if not keyword or all(unicodedata.category(c) in INVISIBLE for c in keyword):
            raise EMPTY_KEYWORD(pos=pos)
        if len(keyword) > max_keyword_chars:
            raise KEYWORD_TOO_LONG(pos=pos, limit=max_keyword_chars)
        keywords.append(keyword)

    raw_categories = body.get("categories")
    if raw_categories is None:
        categories = default_categories
    elif not isinstance(raw_categories, list) or not all(
        isinstance(c, str) for c in raw_categories
    ):
        raise INVALID_CATEGORIES()
    else:
        try:
            categories = parse_categories(raw_categories)
        except UnknownCategoryError as exc:
            raise UNKNOWN_CATEGORY(detail=str(exc)) from None

    raw_priority = body.get("priority", "normal")
    if raw_priority is None:
        raw_priority = "normal"
    if not isinstance(raw_priority, str) or raw_priority not in PRIORITIES:
        raise INVALID_PRIORITY()
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
        raise INVALID_NAME()
    name = " ".join(raw.split())
    if len(name) > MAX_NAME_CHARS:
        raise NAME_TOO_LONG(limit=MAX_NAME_CHARS)
    return name or default_name(keywords)
