"""HTTP handlers of the keyword history: one keyword's series, and the search of keywords."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from server.api.views import ok
from server.appkeys import SETTINGS, STORE
from server.categories import CATEGORIES, UnknownCategoryError, parse_categories
from server.errors import (
    INVALID_SEARCH_LIMIT,
    INVALID_TIME,
    INVALID_TIME_RANGE,
    KEYWORD_TOO_LONG,
    MISSING_KEYWORD,
    MISSING_QUERY,
    QUERY_TOO_LONG,
    UNKNOWN_CATEGORY,
)
from server.history import (
    SEARCH_LIMIT_MAX,
    SERIES_LIMIT_MAX,
    VOLUME_KINDS,
    UnknownKindError,
    normalise,
)
from server.kst import KST
from server.model import now_ms

SEARCH_LIMIT_DEFAULT = 20
TIME_MAX_MS = 2**53


def parse_time(request: web.Request, name: str, default: int) -> int:
    """Epoch ms, or an ISO 8601 date/time (without a zone: KST, the dashboard's clock)."""
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    if raw.isdigit():
        ms = int(raw)
    else:
        try:
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=KST)
            ms = int(moment.timestamp() * 1000)
        except (ValueError, OverflowError):
            raise INVALID_TIME(name=name) from None
    if abs(ms) > TIME_MAX_MS:  # beyond what the stores' 64-bit integers and doubles hold exactly
        raise INVALID_TIME(name=name)
    return ms


def parse_limit(request: web.Request, default: int, most: int) -> int:
    raw = request.query.get("limit", str(default))
    try:
        limit = int(raw)
    except ValueError:
        raise INVALID_SEARCH_LIMIT(limit=most) from None
    if not 1 <= limit <= most:
        raise INVALID_SEARCH_LIMIT(limit=most)
    return limit


async def keyword_history(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    keyword = normalise(request.query.get("keyword", ""))
    if not keyword:
        raise MISSING_KEYWORD()
    if len(keyword) > settings.max_keyword_chars:
        raise KEYWORD_TOO_LONG(pos=1, limit=settings.max_keyword_chars)
    kinds: tuple[str, ...] | None = None
    raw_categories = request.query.get("category") or request.query.get("categories")
    if raw_categories:
        kinds = parse_kinds(raw_categories)
    to_ms = parse_time(request, "to", now_ms())
    from_ms = parse_time(request, "from", 0)
    if from_ms > to_ms:
        raise INVALID_TIME_RANGE()
    limit = parse_limit(request, SERIES_LIMIT_MAX, SERIES_LIMIT_MAX)
    observations = await request.app[STORE].history.series(keyword, kinds, from_ms, to_ms, limit)
    series: dict[str, dict[str, Any]] = {}
    for kind in kinds or ():
        series[kind] = {"kind": kind, "label": label(kind), "points": []}
    for o in observations:
        entry = series.setdefault(o.kind, {"kind": o.kind, "label": label(o.kind), "points": []})
        entry["points"].append(
            {"observedAt": o.observed_ms, "value": o.value, "provider": o.provider}
        )
    return ok({"keyword": keyword, "from": from_ms, "to": to_ms, "series": list(series.values())})


def parse_kinds(raw: str) -> tuple[str, ...]:
    """Document categories (as a batch takes them, api names too) and search-volume kinds
    (``volumePc``, ``volumeMobile``, ``volumeTotal``), de-duplicated in order."""
    out: list[str] = []
    unknown: list[str] = []
    for item in raw.split(","):
        name = item.strip()
        if name in VOLUME_KINDS:
            kind = name
        else:
            try:
                (kind,) = parse_categories([name])
            except UnknownCategoryError:
                unknown.append(name or "(비어 있음)")
                continue
        if kind not in out:
            out.append(kind)
    if unknown:
        raise UNKNOWN_CATEGORY(detail=str(UnknownKindError(unknown, list(CATEGORIES))))
    return tuple(out)


def label(kind: str) -> str:
    category = CATEGORIES.get(kind)
    if category is not None:
        return category.label_ko
    return VOLUME_KINDS.get(kind, kind)


async def search_keywords(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    query = normalise(request.query.get("q", ""))
    if not query:
        raise MISSING_QUERY()
    if len(query) > settings.max_keyword_chars:
        raise QUERY_TOO_LONG(limit=settings.max_keyword_chars)
    limit = parse_limit(request, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX)
    found = await request.app[STORE].history.search(query, limit)
    return ok({"query": query, "keywords": found})
