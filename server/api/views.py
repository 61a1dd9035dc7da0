"""HTTP handlers of the JSON API (streams live in their own modules)."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from server.api import streamtokens
from server.api.compression import gzip_if_accepted
from server.api.quota import quota_plan
from server.appkeys import COUNTER, HEALTH, PROVIDER, SETTINGS, STORE, VOLUMES
from server.categories import CATEGORIES
from server.codec import dumps, loads
from server.errors import (
    EMPTY_BODY,
    FOR_KEYWORD_FILE_CODE,
    FOR_PROVIDER_CODE,
    INVALID_BODY,
    INVALID_EXPAND_LIMIT,
    INVALID_IDEMPOTENCY_KEY,
    INVALID_JSON,
    INVALID_LIMIT,
    INVALID_SINCE,
    JOB_NOT_FOUND,
    MISSING_KEYWORD,
    NO_USABLE_KEY,
    NOTHING_TO_RETRY,
    TOO_MANY_JOBS,
    UPSTREAM_ERROR,
    VOLUME_AUTH_FAILED,
    VOLUMES_OFF,
    QueueFullError,
)
from server.events import EVENT_TYPES
from server.keyfiles import SAMPLE_SIZE, KeywordFileError, kind_of, read_table
from server.kst import format_kst
from server.model import (
    PRIORITIES,
    JobSpec,
    check_job_id,
    default_name,
    new_job_id,
    now_ms,
    parse_name,
    parse_submission,
)
from server.work.providers.base import FatalProviderError, KeywordError
from server.work.providers.volume_base import VolumeAuthError
from server.work.webhooks import webhook_of_submission, with_webhook

log = logging.getLogger("doccount.batch")


def find_web_dir() -> Path:
    """The dashboard's files: inside the package when installed from a wheel (``server/web``,
    mapped from the top-level ``web/`` at build time), else the checkout's ``web/`` (a plain
    checkout or an editable install)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "web", package.parent / "web"):
        if (candidate / "index.html").is_file():
            return candidate
    return package.parent / "web"


WEB_DIR = find_web_dir()


def ok(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response({"success": True, **body}, status=status, dumps=dumps)


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


async def read_json(request: web.Request) -> Any:
    raw = await request.read()  # raises 413 past client_max_size
    if not raw.strip():
        raise EMPTY_BODY()
    try:
        return loads(raw)
    except ValueError:
        raise INVALID_JSON() from None


IDEMPOTENCY_KEY_RE = re.compile(r"[\x21-\x7e]{1,128}")


def idempotency_key(request: web.Request) -> str | None:
    """The submission's ``Idempotency-Key``: a retry of a POST whose answer was lost gets the
    first job back instead of a duplicate (same client address, within 24 h)."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not IDEMPOTENCY_KEY_RE.fullmatch(raw):
        raise INVALID_IDEMPOTENCY_KEY()
    return raw


async def create_batch(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    submission = await read_json(request)
    keywords, categories, priority = parse_submission(
        submission,
        default_categories=settings.categories,
        max_keywords=settings.max_keywords,
        max_keyword_chars=settings.max_keyword_chars,
    )
    name = parse_name(submission, keywords)
    webhook_url = await webhook_of_submission(submission, settings)
    return await start_job(request, keywords, categories, priority, name, webhook_url)


async def plan_batch(request: web.Request) -> web.Response:
    """The quota plan of a submission before it is made (the dashboard form, the CLI): the
    same body as /batch, validated the same way; nothing is created."""
    settings = request.app[SETTINGS]
    submission = await read_json(request)
    keywords, categories, _ = parse_submission(
        submission,
        default_categories=settings.categories,
        max_keywords=settings.max_keywords,
        max_keyword_chars=settings.max_keyword_chars,
    )
    plan = await quota_plan(request.app, keywords, categories, now_ms())
    return ok({"quota": plan})


async def start_job(
    request: web.Request,
    keywords: tuple[str, ...],
    categories: tuple[str, ...],
    priority: int,
    name: str,
    webhook_url: str | None = None,
) -> web.Response:
    """Queue a job for this client (a batch, or the retry of one) and answer like /batch.
    ``webhook_url``: where its summary goes when it ends (a retry: the server-wide one)."""
    settings = request.app[SETTINGS]
    webhook_url = webhook_url or settings.webhook_url
    store = request.app[STORE]
    # A job that must fail is not started: say now that no key can count. Keys spent only for
    # today are not that: the job is taken and waits for the reset (the answer says until when).
    no_key = await request.app[PROVIDER].unusable()
    if no_key:
        raise NO_USABLE_KEY(detail=no_key)
    client = client_address(request)
    created = now_ms()
    spec = JobSpec(
        id=new_job_id(created),
        keywords=keywords,
        categories=categories,
        priority=priority,
        created_ms=created,
        source=request.app[PROVIDER].name,
        client=client,
        name=name,
    )
    try:
        job_id = await store.create_job(
            spec,
            max_queued=settings.max_queued_jobs_per_client,
            idempotency_key=idempotency_key(request),
        )
    except QueueFullError as exc:
        raise TOO_MANY_JOBS(limit=exc.limit) from None
    plan = await quota_plan(request.app, keywords, categories, created)
    # Asked only when nothing is left today: the usual submit makes no extra store read.
    spent = plan is not None and plan["callsLeftToday"] == 0
    resets_at = await request.app[PROVIDER].quota_resets_at() if spent else None
    answer: dict[str, Any] = {
        "jobId": job_id,
        "message": "배치 작업이 시작되었습니다"
        if resets_at is None
        else f"배치 작업이 접수되었습니다: 모든 API 키의 오늘 호출 한도가 소진되어 "
        f"{format_kst(resets_at)}에 한도가 초기화되면 조회합니다",
        "quota": plan,
    }
    if settings.api_token is not None:  # for EventSource/WebSocket URLs, instead of the token
        answer.update(streamtokens.token_body(settings, job_id))
    if job_id != spec.id:
        log.info("[배치] 같은 Idempotency-Key: 기존 작업 %s 반환", job_id)
        replayed = ok(answer)
        replayed.headers["Idempotent-Replayed"] = "true"
        return replayed
    if webhook_url is not None:
        await store.webhook_ledger().register(spec.id, webhook_url, created)
    log.info("[배치] 작업 생성: %s, 키워드 %d개", spec.id, len(keywords))
    return ok(answer)


def failed_part(job: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The keywords whose lookup failed (each once, in order) and the categories that failed
    for any of them (in the job's order). Empty when nothing failed."""
    keywords: dict[str, None] = {}
    failed_categories: set[str] = set()
    for result in job["results"]:
        if result.get("error") is None:
            continue
        keywords[result["keyword"]] = None
        # ``errors`` names the categories that failed; without one, the keyword failed whole.
        # (It may also say why the search volume is missing: not a category to count again.)
        named = [c for c in result.get("errors") or {} if c in job["categories"]]
        failed_categories.update(named or job["categories"])
    categories = tuple(c for c in job["categories"] if c in failed_categories)
    return tuple(keywords), categories


async def retry_job(request: web.Request) -> web.Response:
    """A new job of exactly the failed keywords of a job (and the categories that failed)."""
    job_id = check_job_id(request.match_info["job_id"])
    job = await request.app[STORE].get_job(job_id)
    if job is None:
        raise JOB_NOT_FOUND()
    keywords, categories = failed_part(job)
    if not keywords:
        raise NOTHING_TO_RETRY()
    log.info("[배치] 실패한 키워드 %d개 재조회: %s", len(keywords), job_id)
    priority = PRIORITIES.get(job["priority"], 1)
    return await start_job(request, keywords, categories, priority, default_name(keywords))


async def job_status(request: web.Request) -> web.Response:
    job_id = check_job_id(request.query.get("jobId"))
    since = request.query.get("since")
    if since is not None:
        return await job_status_since(request, job_id, since)
    # The stored result texts go out as they are: no decode and re-encode per poll.
    job_json = await request.app[STORE].get_job_json(job_id)
    if job_json is None:
        raise JOB_NOT_FOUND()
    # A job nobody counts says so ("waiting": "no_worker", "stalled"): server/work/health.py.
    job_json = await request.app[HEALTH].splice(job_id, job_json)
    job_json = await with_webhook(request.app[STORE], request.app[SETTINGS], job_id, job_json)
    resp = web.Response(
        text='{"success":true,"job":' + job_json + "}", content_type="application/json"
    )
    return gzip_if_accepted(request, resp)


async def job_status_since(request: web.Request, job_id: str, since: str) -> web.Response:
    """The incremental poll: the job's fields and only the results after event ``since`` (a
    ``lastEventId`` this client saw), so a poll with nothing new costs a few hundred bytes
    whatever the job's size. ``gap``: the log no longer reaches back to ``since``, and
    ``results`` holds every result (replace, do not append)."""
    try:
        got = await request.app[STORE].get_job_json_since(job_id, since)
    except ValueError:
        raise INVALID_SINCE() from None
    if got is None:
        raise JOB_NOT_FOUND()
    job_json, gap = got
    tail = ',"gap":true}' if gap else "}"
    resp = web.Response(
        text='{"success":true,"job":' + job_json + ',"since":' + dumps(since) + tail,
        content_type="application/json",
    )
    return gzip_if_accepted(request, resp)


async def list_jobs(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError:
        raise INVALID_LIMIT() from None
    if not 1 <= limit <= 200:
        raise INVALID_LIMIT()
    jobs = await request.app[STORE].list_jobs(limit)
    return gzip_if_accepted(request, ok({"jobs": await request.app[HEALTH].annotate(jobs)}))


async def parse_keywords(request: web.Request) -> web.Response:
    """A keyword file (the body, as it is; ``?filename=`` says its type) read into columns the
    dashboard lets the user pick from, with the keywords of the picked one (``?column=``, a
    header name or a number from 1; default: the 키워드 column, else the first)."""
    data = await request.read()  # raises 413 past client_max_size
    filename = request.query.get("filename", "keywords.txt")
    try:
        # openpyxl takes tens of ms on a big sheet: off the event loop.
        table = await asyncio.to_thread(read_table, data, kind_of(filename))
        picked = table.pick(request.query.get("column"))
        if not any(c.keywords for c in table.columns):
            raise KeywordFileError(
                "no_keywords_in_file", "파일에 키워드가 없습니다 (숫자와 빈 칸뿐)"
            )
    except KeywordFileError as exc:
        raise FOR_KEYWORD_FILE_CODE[exc.code](detail=str(exc)) from None
    return ok(
        {
            "columns": [
                {
                    "index": c.index + 1,
                    "name": c.name,
                    "count": len(c.keywords),
                    "sample": list(c.keywords[:SAMPLE_SIZE]),
                }
                for c in table.columns
            ],
            "headerRow": table.header,
            "column": picked.index + 1,
            "keywords": list(picked.keywords),
        }
    )


MAX_EXPAND_HINTS = 50  # 10 Search Ad calls, 5 s at the default 2/s: a request's patience
MAX_EXPAND_LIMIT = 1000


async def expand_keywords(request: web.Request) -> web.Response:
    """Related keywords of the given ones (Naver's keyword tool), with their volumes, by total
    monthly searches, largest first."""
    settings = request.app[SETTINGS]
    body = await read_json(request)
    if not isinstance(body, dict):
        raise INVALID_BODY()
    keywords, _, _ = parse_submission(
        {"keywords": body.get("keywords"), "categories": None},
        default_categories=settings.categories,
        max_keywords=MAX_EXPAND_HINTS,
        max_keyword_chars=settings.max_keyword_chars,
    )
    limit = body.get("limit", 100)
    if type(limit) is not int or not 1 <= limit <= MAX_EXPAND_LIMIT:
        raise INVALID_EXPAND_LIMIT()
    volumes = request.app.get(VOLUMES)
    if volumes is None:
        raise VOLUMES_OFF()
    try:
        related = await volumes.related(list(keywords), limit)
    except VolumeAuthError as exc:
        raise VOLUME_AUTH_FAILED(detail=str(exc)) from None
    except KeywordError as exc:
        raise UPSTREAM_ERROR(detail=str(exc)) from None
    return ok({"keywords": related, "source": volumes.name})


async def cancel_job(request: web.Request) -> web.Response:
    job_id = check_job_id(request.match_info["job_id"])
    job = await request.app[STORE].request_cancel(job_id)
    if job is None:
        raise JOB_NOT_FOUND()
    log.info("[배치] 작업 취소 요청: %s", job_id)
    text = await with_webhook(request.app[STORE], request.app[SETTINGS], job_id, dumps(job))
    return web.Response(text='{"success":true,"job":' + text + "}", content_type="application/json")


async def count_keyword(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if "keyword" not in request.query:
        raise MISSING_KEYWORD()
    keywords, categories, _ = parse_submission(
        {
            "keywords": [request.query["keyword"]],
            "categories": request.query["categories"].split(",")
            if "categories" in request.query
            else None,
        },
        default_categories=settings.categories,
        max_keywords=1,
        max_keyword_chars=settings.max_keyword_chars,
    )
    try:
        result = await request.app[COUNTER].count(keywords[0], categories)
    except FatalProviderError as exc:
        kind = FOR_PROVIDER_CODE.get(exc.code, UPSTREAM_ERROR)
        raise kind(detail=str(exc)) from None
    return ok({"keyword": result["keyword"], "counts": result["counts"], "result": result})


async def config(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return ok(
        {
            "provider": request.app[PROVIDER].name,
            "categories": [{"name": c.name, "label": c.label_ko} for c in CATEGORIES.values()],
            # What an SSE client listens for and a WebSocket frame's "type" may be.
            "eventTypes": list(EVENT_TYPES),
            "defaultCategories": list(settings.categories),
            "maxKeywords": settings.max_keywords,
            "maxKeywordChars": settings.max_keyword_chars,
            "ratePerSec": settings.rate_per_s,
            # "off" hides the volume columns; "demo" volumes are placeholders, like demo counts.
            "volumeProvider": settings.volume_provider,
            "authRequired": settings.api_token is not None,
        }
    )


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})
