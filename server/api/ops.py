"""Operations endpoints: liveness, readiness, Prometheus metrics, dashboard stats, OpenAPI."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from server.api.openapi import build_spec
from server.api.views import ok
from server.appkeys import METRICS, PROVIDER, SETTINGS, STORE, WORKER_TASK
from server.codec import dumps
from server.errors import NOT_READY
from server.kst import kst_date, kst_day

# naver-api.md: 25,000 calls a day per application (Client ID), all categories together.
DAILY_QUOTA_CALLS = 25_000
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
    if all(v in ("ok", "off") for v in checks.values()):
        return ok({"status": "ready", "checks": checks})
    failing = ", ".join(k for k, v in checks.items() if v not in ("ok", "off"))
    error = NOT_READY(failing=failing)
    return web.json_response(
        {"success": False, "error": error.message, "code": error.code, "checks": checks},
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
    retired = await app[STORE].key_registry().retired() if settings.naver_keys else {}
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
    """The seed's planned dashboard figures: successes and failures, average job time, API use."""
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
            "upstream": await upstream_usage(app, int(time.time() * 1000)),
        }
    )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec(request.app[SETTINGS]), dumps=dumps)


def setup_ops_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/stats", stats)
    app.router.add_get("/api/openapi.json", openapi)
