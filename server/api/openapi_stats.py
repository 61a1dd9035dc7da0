"""The OpenAPI schemas of /api/stats' daily figures (server/api/daily.py)."""

from __future__ import annotations

from server.api.openapi_schemas import Schema, nullable, obj, ref
from server.store.stats_base import STATS_DAYS

COUNT = {"type": "integer", "minimum": 0}


def figures() -> dict[str, Schema]:
    by = {"type": "object", "additionalProperties": COUNT}
    return {
        "jobs": {**COUNT, "description": "jobs created"},
        "keywords": {**COUNT, "description": "keywords counted (results committed)"},
        "cacheHits": {**COUNT, "description": "categories of those results served by the cache"},
        "freshLookups": {
            **COUNT,
            "description": "categories of those results asked of the upstream (counted or failed)",
        },
        "hitRate": nullable(
            {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "cacheHits / (cacheHits + freshLookups), 4 decimals; "
                "null without lookups",
            }
        ),
        "failures": {**by, "description": "failed categories by error code"},
        "jobFailures": {
            **by,
            "description": "failed jobs by the code of their error (internal_error: not the "
            "upstream's)",
        },
        "callsByKey": {
            **by,
            "description": "upstream calls per key, by label (never the id or the secret)",
        },
    }


def stats_schemas() -> dict[str, Schema]:
    day = {"type": "string", "format": "date", "description": "KST day"}
    return {
        "DayFigures": obj({"day": day, **figures()}),
        "DailyStats": obj(
            {
                "days": {"type": "integer", "const": STATS_DAYS},
                "from": day,
                "to": {**day, "description": "today (KST)"},
                "perDay": {
                    "type": "array",
                    "items": ref("DayFigures"),
                    "minItems": STATS_DAYS,
                    "maxItems": STATS_DAYS,
                    "description": "every day of the window, oldest first",
                },
                "total": obj(figures()),
            }
        ),
    }
