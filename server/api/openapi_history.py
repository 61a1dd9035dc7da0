"""The OpenAPI paths of the keyword history and the watchlists (the rest is in openapi.py)."""

from __future__ import annotations

from typing import Any

from server.api.openapi_schemas import (
    error,
    json_content,
    ok_response,
    ref,
    success,
)
from server.categories import CATEGORIES
from server.history import SEARCH_LIMIT_MAX, SERIES_LIMIT_MAX, VOLUME_KINDS
from server.settings import Settings
from server.watchlists import WATCHLIST_ID_RE

Schema = dict[str, Any]

# A category (as a batch takes it) or a search-volume kind.
_ONE_KIND = "(" + "|".join([*sorted(CATEGORIES), *VOLUME_KINDS]) + ")"
KIND_LIST_RE = f"^{_ONE_KIND}(,{_ONE_KIND})*$"


def query_param(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


def history_paths(settings: Settings) -> dict[str, Schema]:
    when = {"type": "string", "pattern": r"^(\d+|\d{4}-\d{2}-\d{2}([T ][0-9:.+\-Z]*)?)$"}
    return {
        "/api/keywords/history": {
            "get": {
                "summary": "One keyword's counts over time (every fresh count is kept)",
                "operationId": "keywordHistory",
                "parameters": [
                    query_param(
                        "keyword",
                        {"type": "string", "minLength": 1},
                        "as typed; white space and case are normalised",
                        required=True,
                    ),
                    query_param(
                        "category",
                        {"type": "string", "pattern": KIND_LIST_RE},
                        "comma list of categories and search-volume kinds (volumePc, "
                        "volumeMobile, volumeTotal: monthly searches; a '< 10' is not kept); "
                        "every kind observed when absent",
                    ),
                    query_param("from", when, "epoch ms or ISO 8601 (no zone: KST); default 0"),
                    query_param("to", when, "epoch ms or ISO 8601 (no zone: KST); default now"),
                    query_param(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": SERIES_LIMIT_MAX},
                        "newest points per kind",
                    ),
                ],
                "responses": {
                    "200": ok_response(
                        "The series, oldest point first",
                        success(
                            {
                                "keyword": {"type": "string"},
                                "from": {"type": "integer"},
                                "to": {"type": "integer"},
                                "series": {"type": "array", "items": ref("Series")},
                            }
                        ),
                    ),
                    **{str(s): error(s) for s in (400, 401, 503)},
                },
            }
        },
        "/api/keywords": {
            "get": {
                "summary": "Keywords ever counted: prefix, then contains (two characters or "
                "more); initial consonants (ㅋㅍ) match 캠핑",
                "operationId": "searchKeywords",
                "parameters": [
                    query_param(
                        "q",
                        {"type": "string", "minLength": 1, "maxLength": settings.max_keyword_chars},
                        "search text",
                        required=True,
                    ),
                    query_param(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": SEARCH_LIMIT_MAX},
                        "default 20",
                    ),
                ],
                "responses": {
                    "200": ok_response(
                        "Matching keywords with their latest values",
                        success(
                            {
                                "query": {"type": "string"},
                                "keywords": {"type": "array", "items": ref("KeywordFound")},
                            }
                        ),
                    ),
                    **{str(s): error(s) for s in (400, 401, 503)},
                },
            }
        },
    }


def watchlist_paths() -> dict[str, Schema]:
    one = success({"watchlist": ref("Watchlist")})
    wid = {
        "name": "watchlist_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": WATCHLIST_ID_RE.pattern},
    }
    body = {"required": True, "content": json_content(ref("WatchlistInput"))}
    return {
        "/api/watchlists": {
            "post": {
                "summary": "Create a watchlist: keywords counted again on a schedule",
                "operationId": "createWatchlist",
                "requestBody": body,
                "responses": {
                    "200": ok_response("Created", one),
                    **{str(s): error(s) for s in (400, 401, 413, 503)},
                },
            },
            "get": {
                "summary": "Every watchlist, oldest first",
                "operationId": "listWatchlists",
                "responses": {
                    "200": ok_response(
                        "Watchlists",
                        success({"watchlists": {"type": "array", "items": ref("Watchlist")}}),
                    ),
                    **{str(s): error(s) for s in (401, 503)},
                },
            },
        },
        "/api/watchlists/{watchlist_id}": {
            "get": {
                "summary": "One watchlist",
                "operationId": "getWatchlist",
                "parameters": [wid],
                "responses": {
                    "200": ok_response("The watchlist", one),
                    **{str(s): error(s) for s in (400, 401, 404, 503)},
                },
            },
            "patch": {
                "summary": "Change any of name, keywords, categories, schedule, paused",
                "operationId": "patchWatchlist",
                "parameters": [wid],
                "requestBody": {
                    "required": True,
                    "content": json_content({**ref("WatchlistInput"), "required": []}),
                },
                "responses": {
                    "200": ok_response("The watchlist after the change", one),
                    **{str(s): error(s) for s in (400, 401, 404, 413, 503)},
                },
            },
            "delete": {
                "summary": "Delete a watchlist (its jobs stay until they expire)",
                "operationId": "deleteWatchlist",
                "parameters": [wid],
                "responses": {
                    "200": ok_response("Deleted", success({"deleted": {"type": "string"}})),
                    **{str(s): error(s) for s in (400, 401, 404, 503)},
                },
            },
        },
        "/api/watchlists/{watchlist_id}/run": {
            "post": {
                "summary": "Count the watchlist now (a job, as POST /api/documents/batch makes)",
                "operationId": "runWatchlist",
                "parameters": [wid],
                "responses": {
                    "200": ok_response(
                        "Job queued",
                        success({"jobId": {"type": "string"}, "message": {"type": "string"}}),
                    ),
                    **{str(s): error(s) for s in (400, 401, 404, 503)},
                },
            }
        },
    }
