"""The OpenAPI document's building blocks and component schemas (the paths are in openapi.py).
Built from the code: categories, statuses, event types and error codes are read from where
they are defined, so the document cannot drift from them."""

from __future__ import annotations

from typing import Any

from server.categories import CATEGORIES
from server.errors import codes_by_status
from server.events import EVENT_TYPES
from server.model import (
    CANCELLED,
    COMPLETED,
    FAILED,
    JOB_ID_RE,
    PENDING,
    PRIORITIES,
    PROCESSING,
)
from server.settings import Settings
from server.watchlists import HHMM_RE, INTERVAL_HOURS_MAX, NAME_MAX_CHARS

Schema = dict[str, Any]

_ONE_CATEGORY = "(" + "|".join(sorted(CATEGORIES)) + ")"
CATEGORY_LIST_RE = f"^{_ONE_CATEGORY}(,{_ONE_CATEGORY})*$"
JOB_STATUSES = [PENDING, PROCESSING, COMPLETED, FAILED, CANCELLED]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    """An object whose listed keys are required unless ``required`` narrows them. Extra keys
    are allowed: clients must ignore what they do not know, so adding a field is compatible."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


ERROR_TEXT = {
    400: "Invalid input (see code)",
    401: "Missing or wrong API token (code unauthorized)",
    403: "Sent by a page of another origin, or a preflight from an origin not on --cors-origin",
    421: "Host name not allowed: loopback names and --allowed-host only (DNS rebinding guard)",
    404: "No such job (expired or never existed)",
    405: "Method not allowed",
    413: "Request body too large",
    409: "Nothing to do for this job, or not possible in this configuration (see code)",
    429: "Too many queued jobs or open streams for this client address; see Retry-After",
    503: "Store unreachable, or the upstream cannot serve (no usable key, misconfiguration)",
}


def error(status: int) -> Schema:
    """An error response, its codes those of the catalogue with this status."""
    codes = codes_by_status()[status]
    schema = {"allOf": [ref("Error"), obj({"code": {"type": "string", "enum": codes}})]}
    response: Schema = {
        "description": f"{ERROR_TEXT[status]}. Codes: " + ", ".join(f"`{c}`" for c in codes),
        "content": json_content(schema),
    }
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return response


def ok_response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": json_content(schema)}


def success(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    body = obj({"success": {"const": True}, **properties}, required)
    if required is not None:
        body["required"] = ["success", *required]
    return body


def schemas(settings: Settings) -> dict[str, Schema]:
    counts = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
    category = {"type": "string", "enum": sorted(CATEGORIES)}
    progress = obj(
        {"current": {"type": "integer", "minimum": 0}, "total": {"type": "integer", "minimum": 0}}
    )
    result = obj(
        {
            "index": {"type": "integer", "minimum": 0},
            "keyword": {"type": "string"},
            "counts": counts,
            "source": {"type": "string", "enum": ["naver", "demo"]},
            "cached": {"type": "array", "items": {"type": "string"}},
            "error": nullable({"type": "string"}),
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "per category, and searchVolume: why a part is missing",
            },
            "errorCodes": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "per failed category: the error's stable code (rate_limited, "
                "upstream_unavailable, bad_request, ...)",
            },
            "searchVolume": nullable(ref("SearchVolume")),
            "ratio": nullable(
                {
                    "type": "object",
                    "additionalProperties": {"type": "number"},
                    "description": "경쟁률 per category: documents / monthly searches "
                    "(null when the volume is unknown)",
                }
            ),
            "previous": {
                "type": "object",
                "description": "per category, the last observation before this one (history)",
                "additionalProperties": ref("PreviousCount"),
            },
            "observedAt": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "cached categories: when the upstream said the count (epoch ms)",
            },
        },
        required=["keyword", "counts", "source", "cached", "error"],
    )
    search_volume = obj(
        {
            "pc": {"type": "integer", "minimum": 0},
            "pcBelow": {"type": "boolean", "description": 'Naver said "< 10"; pc is then 10'},
            "mobile": {"type": "integer", "minimum": 0},
            "mobileBelow": {"type": "boolean"},
            "total": {"type": "integer", "minimum": 0},
            "totalBelow": {"type": "boolean"},
            "compIdx": nullable({"type": "string", "enum": ["높음", "중간", "낮음"]}),
            "source": {"type": "string", "enum": ["naver", "demo"]},
            "cached": {"type": "boolean"},
            "observedAt": {"type": "integer", "description": "epoch ms the source answered"},
        },
        required=["pc", "pcBelow", "mobile", "mobileBelow", "total", "totalBelow", "source"],
    )
    previous = obj({"value": {"type": "integer", "minimum": 0}, "observedAt": {"type": "integer"}})
    observation = obj(
        {
            "value": {"type": "integer", "minimum": 0},
            "observedAt": {"type": "integer", "description": "epoch ms"},
            "provider": {"type": "string"},
        }
    )
    series = obj(
        {
            "kind": {"type": "string", "description": "a category (or a search-volume kind)"},
            "label": {"type": "string", "description": "for people (Korean)"},
            "points": {"type": "array", "items": ref("Observation")},
        }
    )
    keyword_found = obj(
        {
            "keyword": {"type": "string"},
            "lastObservedAt": nullable({"type": "integer"}),
            "latest": {"type": "object", "additionalProperties": ref("Observation")},
        }
    )
    job = obj(
        {
            "id": {"type": "string", "pattern": JOB_ID_RE.pattern},
            "status": {"type": "string", "enum": JOB_STATUSES},
            "progress": ref("Progress"),
            "categories": {"type": "array", "items": category},
            "priority": {"type": "string", "enum": list(PRIORITIES)},
            "queuePosition": nullable({"type": "integer", "minimum": 1}),
            "createdAt": {"type": "integer", "description": "epoch ms"},
            "startedAt": nullable({"type": "integer"}),
            "completedAt": nullable({"type": "integer"}),
            "error": nullable({"type": "string"}),
            "lastEventId": {"type": "string"},
            "source": {"type": "string"},
            "failedCount": {
                "type": "integer",
                "minimum": 0,
                "description": "results with an error (a completed job may have some)",
            },
            "name": nullable(
                {"type": "string", "description": 'given at submit, else "<first> 외 N개"'}
            ),
            "results": {"type": "array", "items": ref("Result")},
            "webhook": ref("WebhookDelivery"),
        },
        required=[
            "id", "status", "progress", "categories", "createdAt", "startedAt",
            "completedAt", "error", "lastEventId",
        ],
    )  # fmt: skip
    event = obj(
        {
            "id": {"type": "string"},
            "jobId": {"type": "string"},
            "type": {"type": "string", "enum": list(EVENT_TYPES)},
            "progress": ref("Progress"),
            "result": ref("Result"),
            "status": {"type": "string", "enum": JOB_STATUSES},
            "error": nullable({"type": "string"}),
            "job": ref("Job"),
            "gap": {"type": "boolean"},
        },
        required=["id", "jobId", "type"],
    )
    error_body = obj(
        {
            "success": {"const": False},
            "error": {"type": "string", "description": "for people (Korean)"},
            "code": {"type": "string", "description": "stable, for programs"},
        }
    )
    keywords_schema = {
        "type": "array",
        "minItems": 1,
        "maxItems": settings.max_keywords,
        "items": {"type": "string", "minLength": 1, "maxLength": settings.max_keyword_chars},
    }
    submission = {
        "type": "object",
        "properties": {
            "keywords": keywords_schema,
            "categories": {"type": "array", "items": category},
            "priority": {"type": "string", "enum": list(PRIORITIES)},
            "name": {"type": "string", "maxLength": 100},
            "webhook": {
                "type": "object",
                "description": "POST the job's summary here when it ends (docs/webhooks.md)",
                "properties": {"url": {"type": "string", "format": "uri", "maxLength": 2048}},
                "required": ["url"],
            },
        },
        "required": ["keywords"],
    }
    webhook_delivery = obj(
        {
            "url": {"type": "string", "description": "without user info, query or fragment"},
            "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": {
                "type": "array",
                "items": obj(
                    {
                        "at": {"type": "integer", "description": "epoch ms"},
                        "status": nullable({"type": "integer"}),
                        "ok": {"type": "boolean"},
                        "error": nullable({"type": "string"}),
                    }
                ),
            },
        }
    )
    key_usage = obj(
        {
            "label": {"type": "string", "description": "short non-secret name of the key"},
            "callsToday": {"type": "integer", "minimum": 0},
            "dailyQuota": {"type": "integer"},
            "remaining": {"type": "integer", "minimum": 0},
            "retired": {"type": "boolean"},
            "retiredUntil": nullable({"type": "integer"}),
        }
    )
    schedule = {
        "oneOf": [
            obj({"daily": {"type": "string", "pattern": HHMM_RE.pattern}}),
            obj({"everyHours": {"type": "integer", "minimum": 1, "maximum": INTERVAL_HOURS_MAX}}),
        ],
        "description": "daily at HH:MM KST, or every N hours from creation",
    }
    watch_fields: dict[str, Schema] = {
        "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX_CHARS},
        "keywords": keywords_schema,
        "categories": {"type": "array", "items": category},
        "schedule": schedule,
        "paused": {"type": "boolean"},
    }
    watch_input = {
        "type": "object",
        "properties": watch_fields,
        "required": ["name", "keywords", "schedule"],
        "additionalProperties": False,
    }
    watchlist = obj(
        {
            "id": {"type": "string"},
            **watch_fields,
            "createdAt": {"type": "integer"},
            "updatedAt": {"type": "integer"},
            "lastRunAt": nullable({"type": "integer"}),
            "lastJobId": nullable({"type": "string"}),
            "lastDueAt": nullable({"type": "integer"}),
            "nextRunAt": nullable({"type": "integer", "description": "null while paused"}),
            "quota": nullable(ref("QuotaPlan")),
        }
    )
    quota_plan = obj(
        {
            "callsNeeded": {"type": "integer", "description": "distinct keywords x categories"},
            "callsLeftToday": {"type": "integer", "description": "the usable keys, this KST day"},
            "fits": {"type": "boolean"},
            "finishesNotBefore": nullable(
                {"type": "integer", "description": "epoch ms of the KST midnight it waits for"}
            ),
        }
    )
    return {
        "Error": error_body,
        "QuotaPlan": quota_plan,
        "Watchlist": watchlist,
        "WatchlistInput": watch_input,
        "Progress": progress,
        "Result": result,
        "SearchVolume": search_volume,
        "Job": job,
        "Event": event,
        "Submission": submission,
        "KeyUsage": key_usage,
        "PreviousCount": previous,
        "Observation": observation,
        "Series": series,
        "KeywordFound": keyword_found,
        "WebhookDelivery": webhook_delivery,
    }
