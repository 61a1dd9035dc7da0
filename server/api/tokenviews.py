"""The stream-token endpoints (server/api/streamtokens.py says what the tokens are)."""

from __future__ import annotations

from aiohttp import web

from server.api import streamtokens
from server.api.views import ok, read_json
from server.appkeys import SETTINGS, STORE
from server.errors import INVALID_BODY, JOB_NOT_FOUND, STREAM_TOKENS_DISABLED
from server.model import JOBS_FEED, check_job_id


async def job_stream_token(request: web.Request) -> web.Response:
    """``POST /api/documents/jobs/{job_id}/stream-token``: a fresh stream token for the job,
    with the API token or a still-valid stream token of the same job (so a page can renew)."""
    settings = request.app[SETTINGS]
    job_id = check_job_id(request.match_info["job_id"])
    if settings.api_token is None:
        raise STREAM_TOKENS_DISABLED()
    if await request.app[STORE].get_job(job_id, with_results=False) is None:
        raise JOB_NOT_FOUND()
    return ok({"jobId": job_id, **streamtokens.token_body(settings, job_id)})


async def stream_token(request: web.Request) -> web.Response:
    """``POST /api/documents/stream-token``: ``{"jobs": "all"}`` for the jobs feed, or
    ``{"jobId": ...}`` for a job."""
    settings = request.app[SETTINGS]
    if settings.api_token is None:
        raise STREAM_TOKENS_DISABLED()
    body = await read_json(request)
    if not isinstance(body, dict):
        raise INVALID_BODY()
    if body.get("jobs") == "all":
        return ok({"jobs": "all", **streamtokens.token_body(settings, JOBS_FEED)})
    job_id = check_job_id(body.get("jobId"))
    if await request.app[STORE].get_job(job_id, with_results=False) is None:
        raise JOB_NOT_FOUND()
    return ok({"jobId": job_id, **streamtokens.token_body(settings, job_id)})
