"""The OpenAPI 3.1 document of the HTTP API, built from Settings so its limits are the live ones.

Tests validate real responses against these schemas and fuzz the API with schemathesis, so a
change to a response shape that is not made here too fails the suite.
"""

from __future__ import annotations

from typing import Any

from server.categories import CATEGORIES
from server.model import JOB_ID_RE, PRIORITIES
from server.settings import Settings

Schema = dict[str, Any]

_ONE_CATEGORY = "(" + "|".join(sorted(CATEGORIES)) + ")"
CATEGORY_LIST_RE = f"^{_ONE_CATEGORY}(,{_ONE_CATEGORY})*$"
JOB_STATUSES = ["pending", "processing", "completed", "failed", "cancelled"]
EVENT_TYPES = ["snapshot", "status", "progress", "result", "job"]


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
    403: "Origin not allowed",
    404: "No such job (expired or never existed)",
    405: "Method not allowed",
    413: "Request body too large",
    429: "Too many queued jobs or open streams for this client address; see Retry-After",
    503: "Store unreachable, or the upstream cannot serve (no usable key, misconfiguration)",
}


def error(status: int) -> Schema:
    response: Schema = {"description": ERROR_TEXT[status], "content": json_content(ref("Error"))}
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
            "searchVolume": nullable(ref("SearchVolume")),
            "ratio": nullable(
                {
                    "type": "object",
                    "additionalProperties": {"type": "number"},
                    "description": "경쟁률 per category: documents / monthly searches "
                    "(null when the volume is unknown)",
                }
            ),
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
            "name": nullable(
                {"type": "string", "description": "given at submit, else \"<first> 외 N개\""}
            ),
            "results": {"type": "array", "items": ref("Result")},
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
            "type": {"type": "string", "enum": EVENT_TYPES},
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
    submission = {
        "type": "object",
        "properties": {
            "keywords": {
                "type": "array",
                "minItems": 1,
                "maxItems": settings.max_keywords,
                "items": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": settings.max_keyword_chars,
                },
            },
            "categories": {"type": "array", "items": category},
            "priority": {"type": "string", "enum": list(PRIORITIES)},
            "name": {"type": "string", "maxLength": 100},
        },
        "required": ["keywords"],
    }
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
    return {
        "Error": error_body,
        "Progress": progress,
        "Result": result,
        "SearchVolume": search_volume,
        "Job": job,
        "Event": event,
        "Submission": submission,
        "KeyUsage": key_usage,
    }


def job_id_param(where: str, required: bool = True) -> Schema:
    return {
        "name": "jobId" if where == "query" else "job_id",
        "in": where,
        "required": required,
        "schema": {"type": "string", "pattern": JOB_ID_RE.pattern},
        "description": "as returned by POST /api/documents/batch",
    }


TOKEN_QUERY = {
    "name": "token",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "the API token, for clients that cannot set headers (EventSource, browsers)",
}


def paths(settings: Settings) -> dict[str, Schema]:
    job_body = success({"job": ref("Job")})
    return {
        "/api/documents/batch": {
            "post": {
                "summary": "Start a batch job (answered at once; counting runs in the background)",
                "operationId": "createBatch",
                "requestBody": {"required": True, "content": json_content(ref("Submission"))},
                "responses": {
                    "200": ok_response(
                        "Job queued",
                        success({"jobId": {"type": "string"}, "message": {"type": "string"}}),
                    ),
                    **{str(s): error(s) for s in (400, 401, 413, 429, 503)},
                },
            }
        },
        "/api/documents/status": {
            "get": {
                "summary": "A job with its results (polling)",
                "operationId": "jobStatus",
                "parameters": [job_id_param("query")],
                "responses": {
                    "200": ok_response("The job", job_body),
                    **{str(s): error(s) for s in (400, 401, 404, 503)},
                },
            }
        },
        "/api/documents/count": {
            "get": {
                "summary": "Count one keyword now (cache, then upstream)",
                "operationId": "countKeyword",
                "parameters": [
                    {
                        "name": "keyword",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "categories",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "pattern": CATEGORY_LIST_RE},
                        "description": "comma list, e.g. blog,cafe",
                    },
                ],
                "responses": {
                    "200": ok_response(
                        "Counts",
                        success(
                            {
                                "keyword": {"type": "string"},
                                "counts": {
                                    "type": "object",
                                    "additionalProperties": {"type": "integer"},
                                },
                                "result": ref("Result"),
                            }
                        ),
                    ),
                    **{str(s): error(s) for s in (400, 401, 503)},
                },
            }
        },
        "/api/documents/jobs": {
            "get": {
                "summary": "Recent jobs, newest first, without results",
                "operationId": "listJobs",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    },
                ],
                "responses": {
                    "200": ok_response(
                        "Jobs", success({"jobs": {"type": "array", "items": ref("Job")}})
                    ),
                    **{str(s): error(s) for s in (400, 401, 503)},
                },
            }
        },
        "/api/documents/jobs/{job_id}": {
            "delete": {
                "summary": "Cancel a job (pending: at once; processing: its worker stops it)",
                "operationId": "cancelJob",
                "parameters": [job_id_param("path")],
                "responses": {
                    "200": ok_response("The job after the request", job_body),
                    **{str(s): error(s) for s in (400, 401, 404, 503)},
                },
            }
        },
        "/api/documents/jobs/{job_id}/export": {
            "get": {
                "summary": "The job's results as an Excel workbook or an Excel-ready CSV",
                "description": (
                    "Korean headers (키워드, categories, 합계, PC/모바일/총 검색량, 경쟁률, "
                    '광고 경쟁도, 오류); numbers as numbers, "< 10" as text, failed cells '
                    "오류. xlsx: header row frozen, autofilter. csv: UTF-8 with a BOM, formulas "
                    "defused."
                ),
                "operationId": "exportJob",
                "parameters": [
                    job_id_param("path"),
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["xlsx", "csv"], "default": "xlsx"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The file (Content-Disposition: attachment)",
                        "content": {
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **{str(s): error(s) for s in (400, 401, 404, 503)},
                },
            }
        },
        "/api/documents/events": {
            "get": {
                "summary": "SSE of one job (?jobId=) or of the jobs feed (?jobs=all)",
                "description": (
                    "Each event: `event:` its type, `id:` its id, `data:` the Event JSON. "
                    "Resume with the Last-Event-ID header or ?lastEventId=. Without either, "
                    "a snapshot comes first. A terminal status ends the stream."
                ),
                "operationId": "jobEvents",
                "parameters": [
                    job_id_param("query", required=False),
                    {
                        "name": "jobs",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["all"]},
                    },
                    {
                        "name": "lastEventId",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                    TOKEN_QUERY,
                ],
                "responses": {
                    "200": {
                        "description": "An event stream; each data line is an Event",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **{str(s): error(s) for s in (400, 401, 404, 429, 503)},
                },
            }
        },
        "/api/documents/ws": {
            "get": {
                "summary": "WebSocket: subscribe to jobs, receive Events as JSON text messages",
                "description": (
                    'Client messages: {"type": "subscribe", "jobId": ..., "lastEventId"?: ...} '
                    'or {"type": "subscribe", "jobs": "all"}, and the matching "unsubscribe". '
                    'Server messages: Events and {"type": "error", "code", "message"}. Frames over '
                    f"{settings.max_ws_message_bytes} bytes close the socket (1009). A browser "
                    "Origin must be the page's own or on the CORS allow-list."
                ),
                "operationId": "jobSocket",
                "parameters": [TOKEN_QUERY],
                "responses": {
                    "101": {"description": "Switching protocols"},
                    **{str(s): error(s) for s in (400, 401, 403, 429)},
                },
            }
        },
        "/api/config": {
            "get": {
                "summary": "What the dashboard needs to start; open even with a token set",
                "operationId": "config",
                "security": [],
                "responses": {
                    "200": ok_response(
                        "Configuration",
                        success(
                            {
                                "provider": {"type": "string"},
                                "categories": {
                                    "type": "array",
                                    "items": obj(
                                        {"name": {"type": "string"}, "label": {"type": "string"}}
                                    ),
                                },
                                "defaultCategories": {"type": "array", "items": {"type": "string"}},
                                "maxKeywords": {"type": "integer"},
                                "maxKeywordChars": {"type": "integer"},
                                "ratePerSec": {"type": "number"},
                                "volumeProvider": {
                                    "type": "string",
                                    "enum": ["off", "naver", "demo"],
                                },
                                "authRequired": {"type": "boolean"},
                            }
                        ),
                    )
                },
            }
        },
        "/api/stats": {
            "get": {
                "summary": "Dashboard figures: job outcomes, average job time, upstream use",
                "operationId": "stats",
                "responses": {
                    "200": ok_response(
                        "Stats",
                        success(
                            {
                                "jobs": obj(
                                    {
                                        "byStatus": {
                                            "type": "object",
                                            "additionalProperties": {"type": "integer"},
                                        },
                                        "succeeded": {"type": "integer"},
                                        "failed": {"type": "integer"},
                                        "cancelled": {"type": "integer"},
                                        "queueDepth": {"type": "integer"},
                                        "avgJobMs": nullable({"type": "integer"}),
                                    }
                                ),
                                "upstream": obj(
                                    {
                                        "provider": {"type": "string"},
                                        "dayKst": {"type": "string", "format": "date"},
                                        "dailyQuota": {"type": "integer"},
                                        "scope": {"type": "string", "enum": ["store"]},
                                        "keys": {"type": "array", "items": ref("KeyUsage")},
                                        "callsByOutcome": {
                                            "type": "object",
                                            "additionalProperties": {"type": "integer"},
                                        },
                                        "retries": {"type": "integer"},
                                    }
                                ),
                            }
                        ),
                    ),
                    **{str(s): error(s) for s in (401, 503)},
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {"200": ok_response("OpenAPI 3.1", {"type": "object"})},
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness: the process answers",
                "operationId": "healthz",
                "security": [],
                "responses": {"200": ok_response("Alive", success({"status": {"const": "ok"}}))},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: store reachable, worker running (where this node runs one)",
                "operationId": "readyz",
                "security": [],
                "responses": {
                    "200": ok_response(
                        "Ready", success({"status": {"const": "ready"}, "checks": ref("Checks")})
                    ),
                    "503": {
                        "description": "Not ready (code not_ready)",
                        "headers": {"Retry-After": {"schema": {"type": "string"}}},
                        "content": json_content(
                            {"allOf": [ref("Error"), obj({"checks": ref("Checks")})]}
                        ),
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


def build_spec(settings: Settings) -> dict[str, Any]:
    components: dict[str, Any] = {
        "schemas": {
            **schemas(settings),
            "Checks": obj(
                {
                    "store": {"type": "string", "enum": ["ok", "unavailable"]},
                    "worker": {"type": "string", "enum": ["ok", "stopped", "off"]},
                }
            ),
        }
    }
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "doccount",
            "version": "0.1.0",
            "description": (
                "Counts Naver documents per keyword in background batch jobs and pushes results "
                'live. Every error is {"success": false, "error", "code"}.'
            ),
        },
        "paths": paths(settings),
        "components": components,
    }
    if settings.api_token is not None:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        spec["security"] = [{"bearer": []}]
    return spec
