"""Who is counting, and what a job that nobody counts says about it.

Every worker writes a heartbeat to the store each HEARTBEAT_S (server/work/worker.py), naming
the jobs it holds. From those, any node can tell:

- a ``pending`` job while no worker is alive: ``"waiting": "no_worker"`` (it will not start
  until one is);
- a ``processing`` job whose holder stopped beating: ``"stalled": true`` and
  ``"stalledSinceMs"`` (the holder's last heartbeat). On Redis another worker takes it over
  once the lease runs out; the embedded store resumes it when its process starts again.

The status JSON and the jobs list carry these fields when they hold; the web node's watch
(``watch_jobs``) appends a ``progress`` event with them to the job's log, and a ``job`` event
to the jobs feed, whenever they change, so live views change without polling.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from server.errors import StoreUnavailableError
from server.model import PENDING, PROCESSING, now_ms
from server.store.base import Store, WorkerBeat

log = logging.getLogger("doccount.health")

HEARTBEAT_S = 1.0
# A worker unseen this long is not alive (a few missed beats: a busy loop is not a dead one).
LIVE_MS = 5_000
# Liveness read by a node is reused this long: a status poll does not cost a store read more.
VIEW_TTL_S = 0.5
WATCH_JOBS = 50
_STARTED = re.compile(r'"startedAt":(\d+|null)')


@dataclass(frozen=True, slots=True)
class Liveness:
    at_ms: int
    live: list[WorkerBeat]
    holder: dict[str, WorkerBeat]  # job id -> the newest heartbeat that lists it

    def flags(self, job_id: str, status: str, started_ms: int | None) -> dict[str, Any]:
        """The fields a job gets besides the seed's: nothing when all is well."""
        if status == PENDING and not self.live:
            return {"waiting": "no_worker"}
        if status != PROCESSING:
            return {}
        beat = self.holder.get(job_id)
        if beat is not None and beat.seen_ms >= self.at_ms - LIVE_MS:
            return {}
        if beat is None:
            # Just claimed, not in a heartbeat yet: give its holder one live window.
            if started_ms is None or started_ms >= self.at_ms - LIVE_MS:
                return {}
            return {"stalled": True, "stalledSinceMs": started_ms}
        return {"stalled": True, "stalledSinceMs": beat.seen_ms}

    def workers(self) -> list[dict[str, Any]]:
        return [{"id": b.id, "seenMs": b.seen_ms, "jobs": len(b.jobs)} for b in self.live]


async def liveness(store: Store, at_ms: int | None = None) -> Liveness:
    at = now_ms() if at_ms is None else at_ms
    beats = await store.heartbeats(at)
    holder: dict[str, WorkerBeat] = {}
    for beat in beats:  # newest first: the first to list a job is its newest holder
        for job_id in beat.jobs:
            holder.setdefault(job_id, beat)
    live = [b for b in beats if b.seen_ms >= at - LIVE_MS]
    return Liveness(at, live, holder)


class HealthView:
    """A node's recent reading of the heartbeats, shared by every request for VIEW_TTL_S."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._reading: Liveness | None = None
        self._read_at = 0.0

    async def get(self) -> Liveness:
        now = time.monotonic()
        if self._reading is None or now - self._read_at > VIEW_TTL_S:
            self._reading = await liveness(self._store)
            self._read_at = now
        return self._reading

    async def splice(self, job_id: str, job_json: str) -> str:
        """The job's JSON with its health fields, when it has any (terminal jobs never do)."""
        head = job_json[:120]
        if '"status":"pending"' in head:
            status = PENDING
        elif '"status":"processing"' in head:
            status = PROCESSING
        else:
            return job_json
        found = _STARTED.search(job_json, 0, 2000)
        started = int(found.group(1)) if found and found.group(1) != "null" else None
        flags = (await self.get()).flags(job_id, status, started)
        if not flags:
            return job_json
        extra = ",".join(f'"{k}":{_json(v)}' for k, v in flags.items())
        return job_json[:-1] + "," + extra + "}"

    async def annotate(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        live = await self.get()
        for job in jobs:
            job.update(live.flags(job["id"], job["status"], job.get("startedAt")))
        return jobs


def _json(value: Any) -> str:
    if value is True:
        return "true"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


async def watch_jobs(store: Store, every_s: float) -> None:
    """On a web node: tell the live views when a job starts or stops waiting for a worker, or
    stalls or moves again (a progress event with the fields, and a jobs-feed event)."""
    shown: dict[str, dict[str, Any]] = {}
    while True:
        try:
            live = await liveness(store)
            seen: set[str] = set()
            for job in await store.list_jobs(WATCH_JOBS):
                if job["status"] not in (PENDING, PROCESSING):
                    continue
                seen.add(job["id"])
                flags = live.flags(job["id"], job["status"], job.get("startedAt"))
                before = shown.get(job["id"], {})
                if flags == before:
                    continue
                shown[job["id"]] = flags
                # Cleared fields are sent as such, so a view drops what it showed.
                tick = {"waiting": None, "stalled": False, **flags}
                await store.append_progress(job["id"], tick)
                await store.append_feed({**job, **flags})
            for gone in set(shown) - seen:
                del shown[gone]
        except StoreUnavailableError as exc:
            log.warning("health watch: store unavailable (%s)", exc)
        except Exception:
            log.exception("health watch failed; next round")
        await asyncio.sleep(every_s)
