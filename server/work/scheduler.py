"""The watchlist scheduler: every ``watch_tick_s`` it starts the runs that are due.

Any number of nodes may run it on one store. A run is named by its (watchlist, due time), and
every step is safe to repeat, so a node dying at any point leaves nothing doubled or lost: the
job is created with the idempotency key ``run:<due ms>`` under the client
``watchlist:<id>`` (a second create, from any node, returns the same job), then the watchlist
records ``lastDueAt`` (which rules the run out for later ticks and after a restart), then the
node that claims the run key (``WatchStore.claim_run``: INSERT OR IGNORE on SQLite, SET NX on
Redis) is the one that reports and logs it. Only the newest due time is ever due
(server/watchlists.py), so after downtime a missed run runs once. The clock is a parameter:
tests move it instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from server.model import JobSpec, new_job_id, now_ms
from server.settings import Settings
from server.store.base import Store
from server.watchlists import latest_due

log = logging.getLogger("doccount.watch")

NORMAL_PRIORITY = 1


async def start_run(
    store: Store, watchlist: dict[str, Any], source: str, now: int, due_ms: int | None = None
) -> str:
    """Queue a job counting the watchlist now; ``due_ms`` for a scheduled run. Its id."""
    spec = JobSpec(
        id=new_job_id(now),
        keywords=tuple(watchlist["keywords"]),
        categories=tuple(watchlist["categories"]),
        priority=NORMAL_PRIORITY,
        created_ms=now,
        source=source,
        client=f"watchlist:{watchlist['id']}",
    )
    job_id = await store.create_job(
        spec, idempotency_key=None if due_ms is None else f"run:{due_ms}"
    )
    fields: dict[str, Any] = {"lastRunAt": now, "lastJobId": job_id}
    if due_ms is not None:
        fields["lastDueAt"] = due_ms
    await store.watchlists.update(watchlist["id"], fields)
    return job_id


class WatchScheduler:
    def __init__(self, store: Store, source: str, clock: Callable[[], int] = now_ms) -> None:
        self.store = store
        self.source = source
        self.clock = clock

    async def tick(self) -> list[str]:
        """Start every due run. The ids of the runs' jobs this node claimed (each run is
        claimed by exactly one node)."""
        now = self.clock()
        created: list[str] = []
        for wl in await self.store.watchlists.list():
            if wl.get("paused"):
                continue
            anchor = wl.get("lastDueAt") or wl["createdAt"]
            due = latest_due(wl["schedule"], anchor, now)
            if due is None:
                continue
            job_id = await start_run(self.store, wl, self.source, now, due)
            if not await self.store.watchlists.claim_run(wl["id"], due):
                continue  # another node (or this one before a restart) has it
            log.info("[관심 키워드] %s 예약 실행: %s", wl["name"], job_id)
            created.append(job_id)
        return created


async def scheduler_loop(store: Store, settings: Settings, source: str) -> None:
    scheduler = WatchScheduler(store, source)
    while True:
        # First a pause: a node that is starting (or a short-lived test app) has other work,
        # and a run that fell due meanwhile is still due a tick later.
        await asyncio.sleep(settings.watch_tick_s)
        try:
            await scheduler.tick()
        except Exception:
            log.exception("watchlist scheduling failed; retrying next round")
