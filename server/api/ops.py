"""Operations endpoints: liveness, readiness, Prometheus metrics, dashboard stats, OpenAPI."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from server.api.daily import daily_stats
from server.api.openapi import build_spec
from server.api.views import ok
from server.appkeys import METRICS, PROVIDER, SETTINGS, STORE, WORKER_TASK
from server.codec import dumps
from server.errors import ADMIN_DISABLED, NO_USABLE_KEY, NOT_READY
from server.kst import DAILY_QUOTA_CALLS, kst_date, kst_day
from server.model import now_ms
from server.work.health import liveness

log = logging.getLogger("doccount.ops")

PING_TIMEOUT_S = 2.0
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers. Nothing else is checked (that is readyz)."""
    return ok({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(app[STORE].ping(), PING_TIMEOUT_S)
        checks["store"] = "ok"
    except Exception:  # any failure to answer means "not ready", whatever its type
        checks["store"] = "unavailable"
    if app[SETTINGS].run_worker:
        task = app.get(WORKER_TASK)
        checks["worker"] = "ok" if task is not None and not task.done() else "stopped"
    else:
        checks["worker"] = "off"  # a web node of a distributed set-up runs none
    no_key = await app[PROVIDER].unusable() if checks["store"] == "ok" else None
    checks["keys"] = "unknown" if checks["store"] != "ok" else "none_usable" if no_key else "ok"
    if checks["keys"] == "ok" and await app[PROVIDER].quota_resets_at() is not None:
        checks["keys"] = "quota_spent"  # jobs are taken and wait for midnight KST
    # unknown: the store is down, and that is what fails; quota_spent: still serving
    fine = ("ok", "off", "unknown", "quota_spent")
    # Listed, not judged: a web node serves whether or not any worker counts.
    workers = (await liveness(app[STORE])).workers() if checks["store"] == "ok" else []
    if all(v in fine for v in checks.values()):
        return ok({"status": "ready", "checks": checks, "workers": workers})
    failing = ", ".join(k for k, v in checks.items() if v not in fine)
    # Every key retired: the service cannot count, and says which keys and why.
    error = NO_USABLE_KEY(detail=no_key) if no_key else NOT_READY(failing=failing)
    return web.json_response(
        {
            "success": False,
            "error": error.message,
            "code": error.code,
            "checks": checks,
            "workers": workers,
        },
        status=error.status,
        headers=error.headers,
        dumps=dumps,
    )


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    await registry.refresh(request.app[STORE])
    return web.Response(body=registry.render(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})


async def upstream_usage(app: web.Application, now_ms: int) -> dict[str, Any]:
    """Calls today per key, by label only: ids and secrets never leave the process."""
    settings = app[SETTINGS]
    stats: Any = getattr(app[PROVIDER], "stats", None)
    calls_by_id: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    retries = 0
    if settings.provider == "naver":
        calls_by_id = await app[STORE].key_registry().calls_on(kst_day(now_ms))
    if stats is not None:
        for (_, outcome), n in stats.calls.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
        retries = stats.retries
    registry = app[STORE].key_registry()
    retired = await registry.retired() if settings.naver_keys else {}
    reasons = await registry.reasons() if retired else {}
    keys = []
    for key in settings.naver_keys if settings.provider == "naver" else ():
        calls = calls_by_id.get(key.client_id, 0)
        keys.append(
            {
                "label": key.label,
                "callsToday": calls,
                "dailyQuota": DAILY_QUOTA_CALLS,
                "remaining": max(0, DAILY_QUOTA_CALLS - calls),
                "retired": key.client_id in retired,
                "retiredUntil": retired.get(key.client_id),
                "retiredReason": reasons.get(key.client_id),
            }
        )
    return {
        "provider": app[PROVIDER].name,
        "dayKst": kst_date(now_ms),
        "dailyQuota": DAILY_QUOTA_CALLS,
        # Per-key calls are counted in the store, by every worker; outcomes and retries are
        # this process's own.
        "scope": "store",
        "keys": keys,
        "callsByOutcome": outcomes,
        "retries": retries,
    }


async def stats(request: web.Request) -> web.Response:
    """The seed's planned dashboard figures: successes and failures, average job time, API use;
    and per KST day for the last 30 days (``daily``, server/api/daily.py)."""
    app = request.app
    jobs = await app[STORE].job_stats()
    by_status = jobs["byStatus"]
    return ok(
        {
            "jobs": {
                "byStatus": by_status,
                "succeeded": by_status.get("completed", 0),
                "failed": by_status.get("failed", 0),
                "cancelled": by_status.get("cancelled", 0),
                "queueDepth": jobs["queueDepth"],
                "avgJobMs": jobs["avgJobMs"],
            },
            "upstream": await upstream_usage(app, now_ms()),
            "workers": (await liveness(app[STORE])).workers(),
            "daily": await daily_stats(app[STORE], app[SETTINGS]),
        }
    )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec(request.app[SETTINGS]), dumps=dumps)


async def clear_retired_keys(request: web.Request) -> web.Response:
    """An operator brings retired keys back (after fixing credentials, or when a refusal was
    the upstream's mistake). Behind the API token: without one, anyone who can reach the
    service could make it spend a key the upstream refuses."""
    if request.app[SETTINGS].api_token is None:
        raise ADMIN_DISABLED()
    cleared = await request.app[STORE].key_registry().clear()
    labels = {k.client_id: k.label for k in request.app[SETTINGS].naver_keys}
    shown = [labels.get(k, "?") for k in cleared]
    log.warning("[관리] 사용 중지된 키 복구: %s", ", ".join(shown) or "없음")
    return ok({"cleared": shown})


def setup_ops_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/stats", stats)
    app.router.add_delete("/api/keys/retired", clear_retired_keys)
    app.router.add_get("/api/openapi.json", openapi)
