"""The OpenAPI 3.1 document of the HTTP API, built from Settings so its limits are the live ones.

Tests validate real responses against these schemas and fuzz the API with schemathesis, so a
change to a response shape that is not made here too fails the suite.
"""

from __future__ import annotations

from typing import Any

from server.api.openapi_clients import STREAM_TOKEN_FIELDS, client_paths
from server.api.openapi_history import history_paths, watchlist_paths
from server.api.openapi_research import research_paths
from server.api.openapi_schemas import (
    CATEGORY_LIST_RE,
    error,
    json_content,
    nullable,
    obj,
    ok_response,
    ref,
    schemas,
    success,
)
from server.api.openapi_stats import stats_schemas
from server.categories import CATEGORIES
from server.events import EVENT_TYPES
from server.model import JOB_ID_RE
from server.settings import Settings

Schema = dict[str, Any]


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
    "description": "a stream token (streamToken of POST /batch or /stream-token), for clients "
    "that cannot set headers (EventSource, browsers); the API token itself only when the server "
    "runs with --allow-token-in-url",
}


def paths(settings: Settings) -> dict[str, Schema]:
    job_body = success({"job": ref("Job")})
    return {
        **history_paths(settings),
        **watchlist_paths(),
        "/api/documents/batch": {
            "post": {
                "summary": "Start a batch job (answered at once; counting runs in the background)",
                "operationId": "createBatch",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": (
                            "The same key from the same client address within 24 h returns "
                            "the job it first created (header Idempotent-Replayed: true) "
                            "instead of a new one"
                        ),
                        "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$"},
                    }
                ],
                "requestBody": {"required": True, "content": json_content(ref("Submission"))},
                "responses": {
                    "200": ok_response(
                        "Job queued",
                        success(
                            {
                                "jobId": {"type": "string"},
                                "message": {"type": "string"},
                                "quota": nullable(ref("QuotaPlan")),
                                **STREAM_TOKEN_FIELDS,
                            },
                            required=["jobId", "message"],
                        ),
                    ),
                    **{str(s): error(s) for s in (400, 401, 403, 413, 429, 503)},
                },
            }
        },
        "/api/documents/plan": {
            "post": {
                "summary": "The quota plan of a submission, before it is made (nothing created)",
                "operationId": "planBatch",
                "requestBody": {"required": True, "content": json_content(ref("Submission"))},
                "responses": {
                    "200": ok_response(
                        "The plan (null with the demo provider)",
                        success({"quota": nullable(ref("QuotaPlan"))}, required=["quota"]),
                    ),
                    **{str(s): error(s) for s in (400, 401, 403, 413, 429)},
                },
            }
        },
        "/api/documents/status": {
            "get": {
                "summary": "A job with its results (polling)",
                "description": (
                    "Without `since`: the job with every result (the seed's poll). With "
                    "`since=<lastEventId>` (an id this job's log issued; `0` for the start): "
                    "the job's fields with only the results committed after that event, and "
                    "its new `lastEventId`, so a poll with nothing new is a few hundred bytes "
                    "whatever the job's size; append them. `gap: true`: the log no longer "
                    "holds that id, and `results` holds every result (replace)."
                ),
                "operationId": "jobStatus",
                "parameters": [
                    job_id_param("query"),
                    TOKEN_QUERY,
                    {
                        "name": "since",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                        "description": "a lastEventId of this job: only results after it",
                    },
                ],
                "responses": {
                    "200": ok_response(
                        "The job (with since: only the results after that event)",
                        success(
                            {
                                "job": ref("Job"),
                                "since": {"type": "string"},
                                "gap": {"const": True},
                            },
                            ["job"],
                        ),
                    ),
                    **{str(s): error(s) for s in (400, 401, 403, 404, 503)},
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
                    **{str(s): error(s) for s in (400, 401, 403, 503)},
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
                    **{str(s): error(s) for s in (400, 401, 403, 404, 503)},
                },
            }
        },
        **client_paths(),
        "/api/documents/jobs/{job_id}/retry": {
            "post": {
                "summary": "Start a new job of exactly the failed keywords of a job",
                "description": (
                    "The new job has each keyword whose lookup failed (once) and the categories "
                    "that failed, at the job's priority; answered like POST /batch."
                ),
                "operationId": "retryJob",
                "parameters": [job_id_param("path")],
                "responses": {
                    "200": ok_response(
                        "Job queued",
                        success({"jobId": {"type": "string"}, "message": {"type": "string"}}),
                    ),
                    **{str(s): error(s) for s in (400, 401, 404, 409, 429, 503)},
                },
            }
        },
        **research_paths(),
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
                    "Origin must be the page's own or on the CORS allow-list (else 403 "
                    "cross_origin)."
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
                                        {
                                            "name": {"type": "string", "enum": list(CATEGORIES)},
                                            "label": {"type": "string"},
                                        }
                                    ),
                                },
                                "eventTypes": {
                                    "type": "array",
                                    "items": {"type": "string", "enum": list(EVENT_TYPES)},
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
        "/api/keys/retired": {
            "delete": {
                "summary": "Operator: bring every retired upstream key back (needs --api-token)",
                "operationId": "clearRetiredKeys",
                "responses": {
                    "200": ok_response(
                        "The labels of the keys brought back",
                        success({"cleared": {"type": "array", "items": {"type": "string"}}}),
                    ),
                    **{str(s): error(s) for s in (401, 403, 503)},
                },
            }
        },
        "/api/stats": {
            "get": {
                "summary": "Dashboard figures: job outcomes, average job time, upstream use; "
                "jobs, keywords, calls per key, cache hit rate and failures per KST day (30 days)",
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
                                "daily": ref("DailyStats"),
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
            **stats_schemas(),
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
