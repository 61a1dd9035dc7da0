"""OpenAPI paths of keyword research: the export, related keywords and keyword files (kept
apart from server/api/openapi.py so each module stays short)."""

from __future__ import annotations

from typing import Any

from server.api.openapi_schemas import error, json_content, obj, ok_response, ref, success
from server.model import JOB_ID_RE

Schema = dict[str, Any]


def job_id_param() -> Schema:
    return {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": JOB_ID_RE.pattern},
        "description": "as returned by POST /api/documents/batch",
    }


def research_paths() -> dict[str, Schema]:
    return {
        "/api/documents/jobs/{job_id}/export": {
            "get": {
                "summary": "The job's results as an Excel workbook or an Excel-ready CSV",
                "description": (
                    "Korean headers (키워드, categories, 합계, PC/모바일/총 검색량, one "
                    "'경쟁률 (<category>)' per category, 광고 경쟁도, 오류); numbers as numbers, "
                    '"< 10" as text, failed cells 오류. '
                    "xlsx: header row frozen, autofilter. csv: UTF-8 with a BOM, formulas "
                    "defused. tsv, jsonl: the command line's streaming formats (every result "
                    "as stored)."
                ),
                "operationId": "exportJob",
                "parameters": [
                    job_id_param(),
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "string",
                            "enum": ["csv", "xlsx", "tsv", "jsonl"],
                            "default": "csv",
                        },
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
                            "text/tab-separated-values": {"schema": {"type": "string"}},
                            "application/x-ndjson": {"schema": {"type": "string"}},
                        },
                    },
                    **{str(s): error(s) for s in (400, 401, 404, 503)},
                },
            }
        },
        "/api/documents/expand": {
            "post": {
                "summary": "Related keywords with their monthly search volumes",
                "description": (
                    "Naver's keyword tool (Search Ad API) for up to 50 keywords: the related "
                    "keywords it gives, the given ones excluded, sorted by total monthly "
                    "searches, largest first. Demo mode gives deterministic demo relatives."
                ),
                "operationId": "expandKeywords",
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "keywords": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 50,
                                    "items": {"type": "string", "minLength": 1},
                                },
                                "limit": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "maximum": 1000,
                                    "default": 100,
                                },
                            },
                            "required": ["keywords"],
                        }
                    ),
                },
                "responses": {
                    "200": ok_response(
                        "Related keywords, by total volume",
                        success(
                            {
                                "keywords": {
                                    "type": "array",
                                    "items": {
                                        "allOf": [
                                            ref("SearchVolume"),
                                            obj({"keyword": {"type": "string"}}),
                                        ]
                                    },
                                },
                                "source": {"type": "string", "enum": ["naver", "demo"]},
                            }
                        ),
                    ),
                    **{str(s): error(s) for s in (400, 401, 409, 413, 503)},
                },
            }
        },
        "/api/documents/keywords/parse": {
            "post": {
                "summary": "Read a keyword file (.txt, .csv/.tsv, .xlsx) into pickable columns",
                "description": (
                    "The body is the file as it is; ?filename= says its type. A first row "
                    "with 키워드/keyword is a header (skipped; its column is the default, else "
                    "the first); cells that are only numbers are never keywords."
                ),
                "operationId": "parseKeywordFile",
                "parameters": [
                    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                    for n in ("filename", "column")
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/octet-stream": {"schema": {"type": "string"}}},
                },
                "responses": {
                    "200": ok_response(
                        "The columns, and the picked column's keywords",
                        success(
                            {
                                "columns": {
                                    "type": "array",
                                    "items": obj(
                                        {
                                            "index": {"type": "integer", "minimum": 1},
                                            "name": {"type": "string"},
                                            "count": {"type": "integer", "minimum": 0},
                                            "sample": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                        }
                                    ),
                                },
                                "headerRow": {"type": "boolean"},
                                "column": {"type": "integer", "minimum": 1},
                                "keywords": {"type": "array", "items": {"type": "string"}},
                            }
                        ),
                    ),
                    **{str(s): error(s) for s in (400, 401, 413, 503)},
                },
            }
        },
    }
