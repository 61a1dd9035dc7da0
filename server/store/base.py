"""The one store interface. Two engines implement it: sqlite (embedded) and redis (distributed).

Jobs as the contract shows them are plain dicts (camelCase, ready to encode). Every write that
changes what a watcher sees appends to the job's event log in the same step, so the log and the
job never disagree: a snapshot's ``lastEventId`` is exactly the last event it includes.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from server.codec import dumps
from server.events import Event, EventPage
from server.model import ClaimedJob, JobSpec
from server.store.history_base import HistoryStore
from server.store.stats_base import StatsStore
from server.store.watch_base import WatchStore
from server.store.webhooks import WebhookLedger
from server.work.providers.base import KeyRegistry, RateLimiter

# How long an Idempotency-Key of a client keeps returning the job it first made.
IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class CreateRequest:
    spec: JobSpec
    max_queued: int | None = None
    idempotency_key: str | None = None


class CachedCount(NamedTuple):
    """A cached count and when the upstream said it (epoch ms)."""

    total: int
    observed_ms: int


# A silent worker's last heartbeat is kept this long: it says since when a job is stalled.
BEAT_KEEP_MS = 3_600_000


class WorkerBeat(NamedTuple):
    """A worker's last heartbeat: when, and the jobs it held then."""

    id: str
    seen_ms: int
    jobs: tuple[str, ...]
    # Of those, the jobs paused until every key's daily quota resets -> when (epoch ms).
    quota_waits: Mapping[str, int] = MappingProxyType({})


class Store(abc.ABC):
    url: str
    # Observations kept past their jobs (server/store/history_base.py).
    history: HistoryStore
    # Keyword lists counted on a schedule (server/store/watch_base.py).
    watchlists: WatchStore
    # Counters per KST day for /api/stats (server/store/stats_base.py).
    stats: StatsStore

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, create the schema, and make jobs left ``processing`` by a dead process
        claimable again (embedded store: at start; redis: after the lease runs out)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailableError when the store cannot be reached."""

    # --- jobs ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def create_job(
        self,
        spec: JobSpec,
        *,
        max_queued: int | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Store a pending job, queue it, append its ``status: pending`` event and a jobs-feed
        ``job`` event, and wake a waiting worker; return its id. With ``max_queued``, raise
        QueueFullError instead when ``spec.client`` already has that many pending or processing
        jobs. With ``idempotency_key``, when ``spec.client`` sent that key within
        IDEMPOTENCY_WINDOW_MS, create nothing and return the id of the job it made then. All
        checked and inserted atomically (one transaction / one script)."""

    @abc.abstractmethod
    async def get_job(self, job_id: str, *, with_results: bool = True) -> dict[str, Any] | None:
        """The job as the status endpoint returns it (``results`` only if asked), or None."""

    async def get_job_json(self, job_id: str) -> str | None:
        """``get_job(job_id)`` encoded: the same bytes as ``dumps(get_job(job_id))``. Engines
        override it to splice the stored result texts in as they are, without decoding them."""
        job = await self.get_job(job_id)
        return None if job is None else dumps(job)

    @abc.abstractmethod
    async def get_job_json_since(self, job_id: str, since: str) -> tuple[str, bool] | None:
        """The incremental poll: ``(json, gap)``, where json is the job as ``get_job_json``
        encodes it but with only the results committed after event ``since`` of its log
        (``"0"``: all of them). When the log no longer holds ``since``, json has every result
        and gap is True. None: no such job. ValueError: ``since`` is malformed or past the
        job's last event (an id this log never issued)."""

    @abc.abstractmethod
    async def list_jobs(self, limit: int) -> list[dict[str, Any]]:
        """Recent jobs, newest first, without results."""

    @abc.abstractmethod
    async def count_queued(self, client: str) -> int:
        """Jobs of this client address that are pending or processing."""

    @abc.abstractmethod
    async def claim_next(self, worker_id: str, timeout_s: float) -> ClaimedJob | None:
        """Take the next job (a resumable one first, then pending by priority, then age),
        waiting up to ``timeout_s`` for one. A pending job turns ``processing`` (status event
        and jobs-feed event appended)."""

    async def renew_claim(self, job_id: str, worker_id: str) -> bool:
        """Keep holding a job (distributed store: extend the lease). False: it was lost."""
        return True

    @abc.abstractmethod
    async def record_result(
        self, job_id: str, index: int, result: dict[str, Any], worker_id: str
    ) -> Event:
        """Commit keyword ``index``'s result, advance progress, append the ``result`` event."""

    @abc.abstractmethod
    async def update_result(
        self, job_id: str, index: int, result: dict[str, Any], worker_id: str
    ) -> Event | None:
        """Replace keyword ``index``'s committed result (its search volume arrived after its
        counts) and append a ``result`` event with the same index and the current progress.
        None, and nothing written, when no result is committed at ``index``."""

    @abc.abstractmethod
    async def append_progress(self, job_id: str, extra: dict[str, Any]) -> Event:
        """Append a ``progress`` tick (current/total from the store, plus ``extra``)."""

    @abc.abstractmethod
    async def finish(self, job_id: str, status: str, error: str | None, worker_id: str) -> Event:
        """Set a terminal status, append its event and a jobs-feed event, drop the claim."""

    @abc.abstractmethod
    async def request_cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel: a pending job ends ``cancelled`` at once; a processing one is flagged and its
        worker stops it. Terminal jobs are left as they are. Returns the job summary, or None."""

    @abc.abstractmethod
    async def wait_cancel(self, job_id: str) -> None:
        """Return once a cancel of ``job_id`` has been requested (from any node)."""

    # --- event logs ---------------------------------------------------------------------

    @abc.abstractmethod
    async def read_events(
        self, job_id: str, after: str | None, *, limit: int = 1000, block_s: float = 0.0
    ) -> EventPage:
        """Events of ``job_id``'s log (or JOBS_FEED) strictly after ``after`` (from the start
        when None), oldest first, at most ``limit``. When there are none yet, wait up to
        ``block_s`` for some. ``gap`` is set when ``after`` is older than the log still holds.
        Raises ValueError for an id this engine could never have issued."""

    async def last_event_id(self, job_id: str) -> str | None:
        """Id of the newest event of ``job_id``'s log (or JOBS_FEED), None while it is empty.
        This default pages through the log; engines override it with a direct look-up."""
        last: str | None = None
        while True:
            page = await self.read_events(job_id, last, limit=1000)
            if not page.events:
                return last
            last = page.events[-1].id

    @abc.abstractmethod
    async def append_feed(self, job: dict[str, Any]) -> Event:
        """Append a ``job`` event (the job summary) to the jobs feed."""

    # --- upstream support ---------------------------------------------------------------

    @abc.abstractmethod
    async def cache_get(
        self, origin: str, keyword: str, categories: tuple[str, ...]
    ) -> dict[str, CachedCount]:
        """Cached counts of ``keyword`` for those of ``categories`` that are cached and fresh,
        and were observed from ``origin`` (the provider and its upstream: a demo number is never
        served as Naver's, nor one upstream's as another's)."""

    @abc.abstractmethod
    async def cache_put(
        self, origin: str, keyword: str, category: str, count: int, observed_ms: int
    ) -> None: ...

    @abc.abstractmethod
    async def volume_cache_get(self, origin: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Fresh cached volume rows of normalised keywords ``keys``, as produced by the volume
        source ``origin`` (provider and upstream: never another's), each with ``observedAt``."""

    @abc.abstractmethod
    async def volume_cache_put(self, origin: str, rows: dict[str, dict[str, Any]]) -> None:
        """Cache volume rows (normalised keyword -> row with ``observedAt``) for
        ``volume_cache_ttl_s``. Advisory: never fails a job."""

    @abc.abstractmethod
    def limiter(self, rate_per_s: float) -> RateLimiter:
        """A per-key pacer shared by every worker on this store."""

    @abc.abstractmethod
    def key_registry(self) -> KeyRegistry:
        """Key retirements shared by every worker on this store."""

    @abc.abstractmethod
    def webhook_ledger(self) -> WebhookLedger:
        """Webhook deliveries, shared by every node on this store (server.store.webhooks)."""

    # --- upkeep -------------------------------------------------------------------------

    @abc.abstractmethod
    async def cleanup(self, now_ms: int) -> int:
        """Delete terminal jobs older than the TTL (results and logs too) and stale cache rows.
        Returns the number of jobs deleted."""

    # --- worker heartbeats ----------------------------------------------------------------

    @abc.abstractmethod
    async def heartbeat(
        self,
        worker_id: str,
        job_ids: list[str],
        now_ms: int,
        *,
        quota_waits: Mapping[str, int] | None = None,
    ) -> None:
        """Record that ``worker_id`` is alive at ``now_ms`` and holds ``job_ids``, of which
        ``quota_waits`` wait for the daily quota reset (job id -> until when, epoch ms)."""

    @abc.abstractmethod
    async def forget_worker(self, worker_id: str) -> None:
        """A worker that stops cleanly takes its heartbeat with it."""

    @abc.abstractmethod
    async def heartbeats(self, now_ms: int) -> list[WorkerBeat]:
        """Every worker's last heartbeat, newest first (silent ones are forgotten after
        BEAT_KEEP_MS), live or not: the caller judges liveness by ``seen_ms``."""

    @abc.abstractmethod
    async def job_stats(self) -> dict[str, Any]:
        """Counts by status, queue depth, and average job time of finished jobs (ms)."""
