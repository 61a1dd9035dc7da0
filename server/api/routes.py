"""URL map."""

from __future__ import annotations

from aiohttp import web

from server.api import export, history, tokenviews, views, watch
from server.api.ops import setup_ops_routes
from server.api.views import WEB_DIR
from server.live import sse, ws


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/documents/batch", views.create_batch)
    app.router.add_post("/api/documents/plan", views.plan_batch)
    app.router.add_get("/api/documents/status", views.job_status)
    app.router.add_get("/api/documents/count", views.count_keyword)
    app.router.add_get("/api/documents/jobs", views.list_jobs)
    app.router.add_delete("/api/documents/jobs/{job_id}", views.cancel_job)
    app.router.add_get("/api/documents/jobs/{job_id}/export", export.export_job)
    app.router.add_post("/api/documents/jobs/{job_id}/stream-token", tokenviews.job_stream_token)
    app.router.add_post("/api/documents/stream-token", tokenviews.stream_token)
    app.router.add_post("/api/documents/expand", views.expand_keywords)
    app.router.add_post("/api/documents/keywords/parse", views.parse_keywords)
    app.router.add_post("/api/documents/jobs/{job_id}/retry", views.retry_job)
    app.router.add_get("/api/config", views.config)
    app.router.add_get("/api/keywords", history.search_keywords)
    app.router.add_get("/api/keywords/history", history.keyword_history)
    app.router.add_post("/api/watchlists", watch.create_watchlist)
    app.router.add_get("/api/watchlists", watch.list_watchlists)
    one = "/api/watchlists/{watchlist_id}"
    app.router.add_get(one, watch.get_watchlist)
    app.router.add_patch(one, watch.patch_watchlist)
    app.router.add_delete(one, watch.delete_watchlist)
    app.router.add_post(one + "/run", watch.run_watchlist)
    app.router.add_get("/api/documents/events", sse.stream_events)
    app.router.add_get("/api/documents/ws", ws.websocket)
    app.router.add_get("/", views.index)
    setup_ops_routes(app)
    if WEB_DIR.is_dir():
        app.router.add_static("/static", WEB_DIR, append_version=False)
