"""HTTP handlers of watchlists: keyword lists counted again on a schedule."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from server.api.quota import quota_plan
from server.api.views import ok, read_json
from server.appkeys import PROVIDER, SETTINGS, STORE
from server.errors import WATCHLIST_NOT_FOUND
from server.model import now_ms
from server.watchlists import check_watchlist_id, new_watchlist_id, next_due, parse_watchlist
from server.work.scheduler import start_run

log = logging.getLogger("doccount.watch")


async def shown(request: web.Request, wl: dict[str, Any], now: int) -> dict[str, Any]:
    """The watchlist with its next run time (none while paused) and whether a run fits what
    the keys have left today (``quota``, as the batch answer has it)."""
    anchor = wl.get("lastDueAt") or wl["createdAt"]
    upcoming = None if wl.get("paused") else next_due(wl["schedule"], anchor, now)
    plan = await quota_plan(request.app, tuple(wl["keywords"]), tuple(wl["categories"]), now)
    return {**wl, "nextRunAt": upcoming, "quota": plan}


def parse(request: web.Request, body: Any, current: dict[str, Any] | None) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    return parse_watchlist(
        body,
        current=current,
        default_categories=settings.categories,
        max_keywords=settings.max_keywords,
        max_keyword_chars=settings.max_keyword_chars,
    )


async def load(request: web.Request) -> dict[str, Any]:
    watchlist_id = check_watchlist_id(request.match_info["watchlist_id"])
    wl = await request.app[STORE].watchlists.get(watchlist_id)
    if wl is None:
        raise WATCHLIST_NOT_FOUND()
    return wl


async def create_watchlist(request: web.Request) -> web.Response:
    fields = parse(request, await read_json(request), None)
    now = now_ms()
    wl: dict[str, Any] = {
        "id": new_watchlist_id(),
        "name": fields["name"],
        "keywords": fields["keywords"],
        "categories": fields["categories"],
        "schedule": fields["schedule"],
        "paused": fields.get("paused", False),
        "createdAt": now,
        "updatedAt": now,
        "lastRunAt": None,
        "lastJobId": None,
        "lastDueAt": None,
    }
    await request.app[STORE].watchlists.create(wl)
    log.info("[관심 키워드] 목록 생성: %s (%d개)", wl["name"], len(wl["keywords"]))
    return ok({"watchlist": await shown(request, wl, now)})


async def list_watchlists(request: web.Request) -> web.Response:
    now = now_ms()
    found = await request.app[STORE].watchlists.list()
    return ok({"watchlists": [await shown(request, wl, now) for wl in found]})


async def get_watchlist(request: web.Request) -> web.Response:
    return ok({"watchlist": await shown(request, await load(request), now_ms())})


async def patch_watchlist(request: web.Request) -> web.Response:
    current = await load(request)
    fields = parse(request, await read_json(request), current)
    now = now_ms()
    if "schedule" in fields and fields["schedule"] != current["schedule"]:
        # A new schedule starts from now: slots of the old one are not "missed".
        fields["lastDueAt"] = now
    if fields.get("paused") is False and current.get("paused"):
        fields["lastDueAt"] = now  # resuming does not run what fell due while paused
    wl = await request.app[STORE].watchlists.update(current["id"], {**fields, "updatedAt": now})
    if wl is None:
        raise WATCHLIST_NOT_FOUND()
    return ok({"watchlist": await shown(request, wl, now)})


async def delete_watchlist(request: web.Request) -> web.Response:
    wl = await load(request)
    if not await request.app[STORE].watchlists.delete(wl["id"]):
        raise WATCHLIST_NOT_FOUND()
    return ok({"deleted": wl["id"]})


async def run_watchlist(request: web.Request) -> web.Response:
    wl = await load(request)
    job_id = await start_run(request.app[STORE], wl, request.app[PROVIDER].name, now_ms())
    log.info("[관심 키워드] %s 지금 실행: %s", wl["name"], job_id)
    return ok({"jobId": job_id, "message": "관심 키워드 조회가 시작되었습니다"})
