"""Active jobs share the upstream rate by weight (high 4 : normal 2 : low 1).

The limiter (store.limiter) paces calls per key and serves its waiters first come, first
served: on its own, a job with 32 lookups waiting gets 32 turns before a newcomer's first. So
calls pass through this gate before the limiter, and at most ``slots`` of them (one per key)
are past it at a time. The gate admits by start-time fair queueing: a job's n-th waiting call
gets the tag ``max(now, its previous tag) + 1/weight`` (``now``: the tag last admitted), and
the smallest tag goes next. Over any stretch where jobs have calls waiting, each gets calls in
proportion to its weight; a job alone gets the whole rate, and a low job always gets its share
(its tags advance like everyone's). A job that waits on nothing (cache hits, commits) leaves
its share to the others.

Which job a call belongs to is a context variable the worker sets around a job's counting
(tasks it starts inherit it); calls of no job (``/api/documents/count``) count as normal.

Within a job, the turn goes to its waiting call of the lowest keyword position (another
context variable, set per lookup), not to whichever reached the gate first: results are
committed in keyword order, so a call served out of order holds back every result after its
keyword. Lookups that start together (a job's first ``keyword_concurrency``) reach the gate in
the order their cache reads come back, which on Redis is any order: served that way, a job's
first results arrived in bursts seconds apart.

The sharing is within one worker process; several workers on one Redis each share their own
turns, and the Redis limiter serves the workers in arrival order.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from server.model import PRIORITY_WEIGHTS
from server.work.providers.base import RateLimiter

NO_JOB = ""
NORMAL_WEIGHT = PRIORITY_WEIGHTS[1]
_current: contextvars.ContextVar[tuple[str, int]] = contextvars.ContextVar(
    "share", default=(NO_JOB, NORMAL_WEIGHT)
)
_position: contextvars.ContextVar[int] = contextvars.ContextVar("share_position", default=0)


@contextmanager
def position(index: int) -> Iterator[None]:
    """Calls made inside (and in tasks started inside) are for the job's keyword ``index``."""
    token = _position.set(index)
    try:
        yield
    finally:
        _position.reset(token)


class WeightedShares:
    """A RateLimiter in front of another, admitting callers by weighted fair queueing."""

    def __init__(self, inner: RateLimiter, *, slots: int, capacity_per_s: float) -> None:
        self._inner = inner
        self._free = max(1, slots)
        self.capacity_per_s = capacity_per_s  # calls/s of every key together
        # One entry per waiting call: which job's turn comes next, by tag...
        self._heap: list[tuple[float, int, str]] = []
        # ...and that job's waiting calls, lowest keyword position first.
        self._waiting: dict[str, list[tuple[int, int, asyncio.Future[None]]]] = {}
        self._seq = itertools.count()
        self._now = 0.0  # virtual time: the tag admitted last
        self._last_tag: dict[str, float] = {}
        self._weights: dict[str, int] = {}

    # --- jobs -------------------------------------------------------------------------------

    @contextmanager
    def job(self, job_id: str, priority: int) -> Iterator[None]:
        """Count the calls made inside (and in tasks started inside) as ``job_id``'s."""
        weight = PRIORITY_WEIGHTS.get(priority, NORMAL_WEIGHT)
        self._weights[job_id] = weight
        token = _current.set((job_id, weight))
        try:
            yield
        finally:
            _current.reset(token)
            self._weights.pop(job_id, None)
            self._last_tag.pop(job_id, None)

    def share(self, job_id: str) -> float:
        """The fraction of the rate ``job_id`` gets while every active job has calls waiting:
        its weight over the sum of the active jobs' weights."""
        total = sum(self._weights.values())
        return self._weights.get(job_id, 0) / total if total else 0.0

    # --- RateLimiter ------------------------------------------------------------------------

    async def acquire(self, key: str) -> float:
        job_id, weight = _current.get()
        tag = max(self._now, self._last_tag.get(job_id, 0.0)) + 1.0 / weight
        if job_id != NO_JOB:
            self._last_tag[job_id] = tag
        loop = asyncio.get_running_loop()
        started = loop.time()
        if self._free > 0 and not self._heap:
            self._free -= 1
            self._now = tag
        else:
            turn: asyncio.Future[None] = loop.create_future()
            seq = next(self._seq)
            heapq.heappush(self._heap, (tag, seq, job_id))
            heapq.heappush(self._waiting.setdefault(job_id, []), (_position.get(), seq, turn))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._pass_on()  # admitted as it was cancelled: the turn goes to the next
                raise
        try:
            await self._inner.acquire(key)
        finally:
            self._pass_on()
        return loop.time() - started

    async def penalize(self, key: str, delay_s: float) -> None:
        await self._inner.penalize(key, delay_s)

    def _pass_on(self) -> None:
        while self._heap:
            tag, _, job_id = heapq.heappop(self._heap)
            waiting = self._waiting.get(job_id)
            while waiting:
                _, _, turn = heapq.heappop(waiting)
                if turn.cancelled():
                    continue  # its entry in _heap finds nobody, or a later call of the job
                if not waiting:
                    del self._waiting[job_id]
                self._now = tag
                turn.set_result(None)
                return
            self._waiting.pop(job_id, None)
        self._free += 1
