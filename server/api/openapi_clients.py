"""The OpenAPI paths of what integrators' clients use besides the core API: stream tokens
(server/api/streamtokens.py)."""

from __future__ import annotations

from server.api.openapi_schemas import Schema, error, json_content, ok_response, success
from server.model import JOB_ID_RE


def job_id_param(where: str) -> Schema:
    return {
        "name": "job_id",
        "in": where,
        "required": True,
        "schema": {"type": "string", "pattern": JOB_ID_RE.pattern},
        "description": "as returned by POST /api/documents/batch",
    }


STREAM_TOKEN_FIELDS: dict[str, Schema] = {
    "streamToken": {
        "type": "string",
        "description": "job-scoped, short-lived: pass as ?token= to SSE, WebSocket and status "
        "(only when the server has an API token)",
    },
    "streamTokenExpiresAt": {"type": "integer", "description": "epoch ms"},
}


def client_paths() -> dict[str, Schema]:
    return {
        "/api/documents/jobs/{job_id}/stream-token": {
            "post": {
                "summary": "A fresh stream token for the job (with the API token, or a still-valid "
                "stream token of the same job)",
                "operationId": "jobStreamToken",
                "parameters": [job_id_param("path")],
                "responses": {
                    "200": ok_response(
                        "The token", success({"jobId": {"type": "string"}, **STREAM_TOKEN_FIELDS})
                    ),
                    **{str(s): error(s) for s in (400, 401, 403, 404, 503)},
                },
            }
        },
        "/api/documents/stream-token": {
            "post": {
                "summary": 'A stream token: {"jobs": "all"} for the jobs feed, or {"jobId": ...}',
                "operationId": "streamToken",
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "jobs": {"const": "all"},
                                "jobId": {"type": "string", "pattern": JOB_ID_RE.pattern},
                            },
                        }
                    ),
                },
                "responses": {
                    "200": ok_response("The token", success(STREAM_TOKEN_FIELDS)),
                    **{str(s): error(s) for s in (400, 401, 403, 404, 503)},
                },
            }
        },
    }
