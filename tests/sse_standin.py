"""Until the hub's SSE endpoint is merged: the same contract, straight from the store's log.

Added only where the app has no ``/api/documents/events`` route of its own.
"""

from __future__ import annotations

from aiohttp import web

from server.appkeys import STORE
from server.events import loads
from server.model import TERMINAL
from server.security import SSE_PATH


async def sse_standin(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    job_id = request.query["jobId"]
    after = request.headers.get("Last-Event-ID") or request.query.get("lastEventId")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    while True:
        page = await store.read_events(job_id, after, block_s=1.0)
        for event in page.events:
            await resp.write(
                f"event: {event.type}\nid: {event.id}\ndata: {event.json}\n\n".encode()
            )
            after = event.id
            if event.type == "status" and loads(event.json)["status"] in TERMINAL:
                return resp


def add_sse_standin(app: web.Application) -> None:
    if not any(
        r.resource is not None and r.resource.canonical == SSE_PATH for r in app.router.routes()
    ):
        app.router.add_get(SSE_PATH, sse_standin)
