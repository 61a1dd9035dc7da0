"""The worker: claims jobs and counts their keywords, committing each result before announcing it.

Within a job, up to ``keyword_concurrency`` keywords are in flight at once (the limiter paces
the calls) but results are committed strictly in keyword order, so the stored results are
always a prefix and a resumed job starts at the first keyword without one. Up to
``max_active_jobs`` jobs run side by side; the limiter serves waiters in arrival order, which
shares the upstream rate between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from server.aio import cancel_and_wait
from server.errors import StoreUnavailableError
from server.kst import format_kst
from server.model import CANCELLED, COMPLETED, FAILED, TERMINAL, ClaimedJob, now_ms
from server.settings import Settings
from server.store.base import Store
from server.store.stats_base import INTERNAL_CODE, JOB_FAILURES, Bump
from server.work.counting import KeywordCounter, TransientLookupError
from server.work.health import HEARTBEAT_S
from server.work.providers.base import FatalProviderError, QuotaExhaustedError
from server.work.shares import WeightedShares, position
from server.work.storecalls import STORE_RETRY_FIRST_S, STORE_RETRY_MAX_S, retry_store
from server.work.volume_part import VolumePart
from server.work.volumes import VolumeLookup

log = logging.getLogger("doccount.batch")

INTERNAL_ERROR = "내부 오류로 작업이 중단되었습니다"

# A job waiting for the quota reset re-reads the clock at least this often: a machine that slept
# through midnight, or a clock that was set, does not keep it waiting for a stale deadline.
QUOTA_WAIT_STEP_S = 60.0


def format_counts(counts: dict[str, int]) -> str:
    return "{ " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + " }"


class Worker:
    def __init__(
        self,
        store: Store,
        counter: KeywordCounter,
        settings: Settings,
        *,
        worker_id: str | None = None,
        volumes: VolumeLookup | None = None,
        shares: WeightedShares | None = None,
        clock_ms: Callable[[], int] = now_ms,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.store = store
        # The clock and the sleep of a wait for the quota reset (midnight KST): tests pass fakes.
        self._clock_ms = clock_ms
        self._sleep = sleep
        self.counter = counter
        self.settings = settings
        self.volumes = volumes
        self.shares = shares
        self.worker_id = worker_id or f"w-{secrets.token_hex(4)}"
        self._active: set[asyncio.Task[None]] = set()
        self._holding: dict[str, asyncio.Task[None]] = {}  # job id -> its task
        self._quota_waits: dict[str, int] = {}  # job id -> when its wait for the quota ends

    # --- driving ------------------------------------------------------------------------

    async def run(self, poll_s: float = 1.0) -> None:
        """Forever: keep up to ``max_active_jobs`` jobs running. Cancel to stop; jobs being
        processed stay claimable and resume on the next start."""
        retry_s = STORE_RETRY_FIRST_S
        beat = asyncio.create_task(self._beat(), name="heartbeat")
        try:
            while True:
                if len(self._active) >= self.settings.max_active_jobs:
                    await asyncio.wait(self._active, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    job = await self.store.claim_next(self.worker_id, poll_s)
                except StoreUnavailableError as exc:
                    log.warning("[배치] 저장소 연결 불가: %.1f초 후 재시도 (%s)", retry_s, exc)
                    await asyncio.sleep(retry_s)
                    retry_s = min(retry_s * 2, STORE_RETRY_MAX_S)
                    continue
                retry_s = STORE_RETRY_FIRST_S
                if job is not None:
                    task = asyncio.create_task(self.process(job), name=f"job {job.id}")
                    self._active.add(task)
                    self._holding[job.id] = task
                    task.add_done_callback(self._active.discard)
                    task.add_done_callback(partial(self._let_go, job.id))
        finally:
            await cancel_and_wait([*self._active, beat])
            # Stopping cleanly: no live worker is claimed where there is none.
            with contextlib.suppress(StoreUnavailableError):
                await asyncio.shield(self.store.forget_worker(self.worker_id))

    def _let_go(self, job_id: str, _: object) -> None:
        self._holding.pop(job_id, None)

    async def _beat(self) -> None:
        """The heartbeat: this worker is alive and holds these jobs (server/work/health.py)."""
        while True:
            await self._beat_once()
            await asyncio.sleep(HEARTBEAT_S)

    async def _beat_once(self) -> None:
        jobs = list(dict.fromkeys([*self._holding, *self._quota_waits]))
        try:
            await self.store.heartbeat(
                self.worker_id, jobs, now_ms(), quota_waits=dict(self._quota_waits)
            )
        except StoreUnavailableError as exc:
            log.warning("[배치] 작업자 신호 기록 실패, 저장소 연결 불가 (%s)", exc)

    async def process_one(self) -> str | None:
        """Claim one job and process it to the end. Returns its id, or None if none waited."""
        job = await self.store.claim_next(self.worker_id, 0)
        if job is None:
            return None
        await self.process(job)
        return job.id

    async def run_until_idle(self) -> list[str]:
        done: list[str] = []
        while (job_id := await self.process_one()) is not None:
            done.append(job_id)
        return done

    # --- one job ------------------------------------------------------------------------

    async def process(self, job: ClaimedJob) -> None:
        """Run ``job`` to its end. A store outage (Redis down, a full disk) pauses it: once
        the store answers again it resumes at its first keyword without a stored result."""
        resumed: ClaimedJob | None = job
        while resumed is not None:
            resumed = await self._process_once(resumed)

    async def _resume_after_outage(self, job: ClaimedJob) -> ClaimedJob | None:
        await retry_store("ping", self.store.ping)
        if not await retry_store("renew", partial(self.store.renew_claim, job.id, self.worker_id)):
            return None  # another worker took it over meanwhile
        current = await retry_store(
            "get_job", partial(self.store.get_job, job.id, with_results=False)
        )
        if current is None or current["status"] in TERMINAL:
            return None
        log.info("[배치] 저장소 복구, 작업 재개: %s", job.id)
        return replace(job, next_index=current["progress"]["current"])

    async def _process_once(self, job: ClaimedJob) -> ClaimedJob | None:
        """One run of ``job``; returns the job to run again after a store outage, else None."""
        total = len(job.keywords)
        if job.next_index == 0:
            log.info("[배치] 작업 시작: %s", job.id)
        else:
            log.info("[배치] 작업 재개: %s (%d/%d부터)", job.id, job.next_index + 1, total)

        counting = asyncio.create_task(self._count_all(job))
        cancel = asyncio.create_task(self.store.wait_cancel(job.id))
        lease = asyncio.create_task(self._keep_claim(job.id))
        watchers = (cancel, lease)
        try:
            done, _ = await asyncio.wait({counting, *watchers}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Cancelled from outside (shutdown): leave the job claimable as it is. The watchers
            # poll the store; one that ignores its cancel must not hold the job's end.
            await cancel_and_wait((counting, *watchers))

        if counting not in done:
            if lease in done and lease.exception() is None:
                log.warning("[배치] 작업 소유권 상실, 다른 워커가 이어받음: %s", job.id)
                return None
            if cancel in done and cancel.exception() is None:
                await self._finish(job.id, CANCELLED, None)
                log.info("[배치] 작업 취소: %s", job.id)
                return None
        exc = (
            counting.exception()
            if counting in done
            else next((t.exception() for t in watchers if t in done), None)
        )
        if isinstance(exc, StoreUnavailableError):
            # Not the job's fault: it stays claimed and resumes once the store is back.
            log.warning("[배치] 저장소 연결 불가로 작업 중단, 재개 대기: %s (%s)", job.id, exc)
            return await self._resume_after_outage(job)
        if isinstance(exc, QuotaExhaustedError):
            return await self._wait_for_quota(job, exc.until_ms)
        if isinstance(exc, FatalProviderError):
            await self._finish(job.id, FAILED, str(exc))
            log.error("[배치] 작업 실패: %s (%s)", job.id, exc)
            await self._count_failure(exc.code)
        elif exc is not None:
            log.error("[배치] 작업 실패: %s", job.id, exc_info=exc)
            await self._finish(job.id, FAILED, INTERNAL_ERROR)
            await self._count_failure(INTERNAL_CODE)
        else:
            await self._finish(job.id, COMPLETED, None)
            log.info("[배치] 작업 완료: %s", job.id)
        return None

    async def _wait_for_quota(self, job: ClaimedJob, until_ms: int) -> ClaimedJob | None:
        """Every key's daily quota is spent: the job stays ``processing`` and waits for the
        reset (``"waiting": "quota"``, server/work/health.py), still cancellable and still
        claimed, then resumes at its first keyword without a stored result."""
        log.warning(
            "[배치] 모든 키의 일일 호출 한도 소진, %s까지 대기 후 재개: %s",
            format_kst(until_ms),
            job.id,
        )
        self._quota_waits[job.id] = until_ms
        waiting = asyncio.create_task(self._until(until_ms))
        cancel = asyncio.create_task(self.store.wait_cancel(job.id))
        lease = asyncio.create_task(self._keep_claim(job.id))
        try:
            await self._beat_once()  # the status JSON says so now, not at the next beat
            tick = {"waiting": "quota", "resumesAtMs": until_ms}
            await retry_store("append_progress", partial(self.store.append_progress, job.id, tick))
            done, _ = await asyncio.wait(
                {waiting, cancel, lease}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            await cancel_and_wait((waiting, cancel, lease))
            self._quota_waits.pop(job.id, None)
        if cancel in done and cancel.exception() is None:
            await self._finish(job.id, CANCELLED, None)
            log.info("[배치] 작업 취소 (한도 초기화 대기 중): %s", job.id)
            return None
        if lease in done and lease.exception() is None:
            log.warning("[배치] 작업 소유권 상실, 다른 워커가 이어받음: %s", job.id)
            return None
        failed = next((e for t in done if (e := t.exception()) is not None), None)
        if isinstance(failed, StoreUnavailableError):
            return await self._resume_after_outage(job)  # meets the spent quota again, or not
        if failed is not None:
            raise failed
        await self._beat_once()
        clear = {"waiting": None}
        await retry_store("append_progress", partial(self.store.append_progress, job.id, clear))
        log.info("[배치] 일일 호출 한도 초기화, 작업 재개: %s", job.id)
        current = await retry_store(
            "get_job", partial(self.store.get_job, job.id, with_results=False)
        )
        if current is None or current["status"] in TERMINAL:
            return None
        return replace(job, next_index=current["progress"]["current"])

    async def _until(self, until_ms: int) -> None:
        while (left_ms := until_ms - self._clock_ms()) > 0:
            await self._sleep(min(left_ms / 1000, QUOTA_WAIT_STEP_S))

    async def _finish(self, job_id: str, status: str, error: str | None) -> None:
        await retry_store(
            "finish", partial(self.store.finish, job_id, status, error, self.worker_id)
        )

    async def _count_failure(self, code: str) -> None:
        """Why a job failed, in /api/stats' day counters. Advisory: the job has ended."""
        try:
            await self.store.stats.add([Bump(JOB_FAILURES, code, 1)])
        except StoreUnavailableError as exc:
            log.warning("[배치] 실패 사유 집계 생략, 저장소 연결 불가 (%s)", exc)

    async def _commit(self, job_id: str, index: int, result: dict[str, Any]) -> None:
        # A commit must not be torn by a cancel that arrives while it runs.
        commit = partial(self.store.record_result, job_id, index, result, self.worker_id)
        await retry_store("record_result", lambda: asyncio.shield(commit()))

    async def _keep_claim(self, job_id: str) -> None:
        """Returns only when the claim is lost (distributed store: the lease ran out)."""
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            try:
                if not await self.store.renew_claim(job_id, self.worker_id):
                    return
            except StoreUnavailableError as exc:
                # Unknown, not lost: keep counting; once the store is back the next renewal
                # tells, and if another worker took over meanwhile, results are not doubled.
                log.warning("[배치] 소유권 갱신 실패, 저장소 연결 불가: %s (%s)", job_id, exc)

    async def _count_all(self, job: ClaimedJob) -> None:
        if self.shares is None:
            await self._count_with_volumes(job)
            return
        # Every lookup task started inside inherits the job's share of the upstream rate.
        with self.shares.job(job.id, job.priority):
            await self._count_with_volumes(job)

    def _eta_tick(self, job: ClaimedJob, remaining: int, observed_per_s: float) -> dict[str, Any]:
        """The progress tick's rate and time left. With a shares gate both come from the job's
        own share of the upstream rate as it is now (jobs may have started or ended since this
        one began, so its average so far would mislead), counting one call per category."""
        rate = observed_per_s
        share: float | None = None
        if self.shares is not None:
            share = self.shares.share(job.id)
            share_rate = self.shares.capacity_per_s * share / max(1, len(job.categories))
            if share_rate > 0:
                rate = share_rate
        tick: dict[str, Any] = {
            "ratePerSec": round(rate, 2),
            "etaMs": round(remaining / rate * 1000) if rate > 0 else None,
        }
        if share is not None:
            tick["share"] = round(share, 3)
        return tick

    async def _count_with_volumes(self, job: ClaimedJob) -> None:
        part = VolumePart(self.store, self.worker_id, self.volumes, job, self._commit)
        volume_task = (
            asyncio.create_task(part.run(), name=f"volumes {job.id}")
            if self.volumes is not None
            else None
        )
        try:
            await self._count_each(job, part)
            if volume_task is not None:
                # The job ends once every keyword has its volume (or the reason it has none).
                await volume_task
        finally:
            if volume_task is not None:
                # Re-cancelled until it stops: a Redis call's wait_for may swallow one (aio.py).
                await cancel_and_wait([volume_task])

    async def _count_each(self, job: ClaimedJob, part: VolumePart) -> None:
        """Look keywords up, up to ``keyword_concurrency`` at once, and commit in order.

        A keyword whose quick retries all met a transient fault (a 429 storm, an upstream down,
        timeouts) is set aside ("parked") rather than failed: the keywords after it are looked
        up meanwhile, and it is asked again after a wait that doubles, for at most
        ``storm_retry_s`` from when it was first parked; then its error is final. Commits stop
        at a parked keyword and resume, in order, once it has its count or its final error."""
        total = len(job.keywords)
        s = self.settings
        loop = asyncio.get_running_loop()
        # Per distinct keyword (duplicates are counted once and reported at each position).
        lookups: dict[asyncio.Task[dict[str, Any]], str] = {}
        # A lookup's error (FatalProviderError, ...) is raised when its turn to commit comes,
        # so the results before it are committed first, as when lookups ran strictly in order.
        outcomes: dict[str, dict[str, Any] | BaseException] = {}
        parks: dict[str, _Parked] = {}  # every keyword parked so far: its retry schedule
        waiting: set[str] = set()  # parked and not in flight now
        next_dispatch = job.next_index
        next_commit = job.next_index
        started = time.monotonic()
        done_here = 0
        last_tick = started

        def look_up(keyword: str, index: int, *, final: bool) -> None:
            coro = self.counter.count(keyword, job.categories, final=final)
            with position(index):  # its calls' place in the job's queue (shares.py)
                lookups[asyncio.create_task(coro)] = keyword

        try:
            while next_commit < total:
                now = loop.time()
                # Parked keywords due again first: they come before the rest in commit order.
                for keyword in sorted(waiting, key=lambda k: parks[k].index):
                    if len(lookups) >= s.keyword_concurrency:
                        break
                    if parks[keyword].due_s <= now:
                        waiting.discard(keyword)
                        look_up(
                            keyword, parks[keyword].index, final=now >= parks[keyword].deadline_s
                        )
                while next_dispatch < total and len(lookups) < s.keyword_concurrency:
                    keyword = job.keywords[next_dispatch]
                    seen = keyword in outcomes or keyword in parks
                    if not seen and keyword not in lookups.values():
                        look_up(keyword, next_dispatch, final=s.storm_retry_s <= 0)
                    next_dispatch += 1
                # Commit the ready prefix.
                while next_commit < total and job.keywords[next_commit] in outcomes:
                    index = next_commit
                    outcome = outcomes[job.keywords[index]]
                    if isinstance(outcome, BaseException):
                        raise outcome
                    result = await part.commit(index, {"index": index, **outcome})
                    next_commit += 1
                    done_here += 1
                    log.info(
                        "[배치] %d/%d 완료: %s %s",
                        index + 1,
                        total,
                        result["keyword"],
                        format_counts(result["counts"])
                        + (f" 오류: {result['error']}" if result["error"] else ""),
                    )
                    now = time.monotonic()
                    if now - last_tick >= s.progress_interval_s and index + 1 < total:
                        last_tick = now
                        observed = done_here / (now - started)
                        tick = self._eta_tick(job, total - (index + 1), observed)
                        await retry_store(
                            "append_progress", partial(self.store.append_progress, job.id, tick)
                        )
                if next_commit >= total:
                    break
                # Wait for a lookup to end, or for the first parked keyword to fall due.
                wake_s = min((parks[k].due_s for k in waiting), default=None)
                timeout_s = None if wake_s is None else max(0.0, wake_s - loop.time())
                if not lookups:
                    assert timeout_s is not None, "nothing in flight, parked or left to commit"
                    await asyncio.sleep(timeout_s)
                    continue
                done, _ = await asyncio.wait(
                    lookups, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    keyword = lookups.pop(task)
                    storm = task.exception()
                    if isinstance(storm, TransientLookupError):
                        parks[keyword] = self._park(job, keyword, storm, parks.get(keyword))
                        waiting.add(keyword)
                    else:
                        outcomes[keyword] = storm if storm is not None else task.result()
        finally:
            # Awaited, not only cancelled: a lookup must not go on calling the upstream, or
            # writing the cache, for a job that has stopped here.
            await cancel_and_wait(lookups)

    def _park(
        self, job: ClaimedJob, keyword: str, storm: TransientLookupError, park: _Parked | None
    ) -> _Parked:
        s = self.settings
        now = asyncio.get_running_loop().time()
        if park is None:
            park = _Parked(
                index=job.keywords.index(keyword),
                deadline_s=now + s.storm_retry_s,
                wait_s=s.storm_retry_first_s,
                due_s=now,
            )
        else:
            park.wait_s = min(park.wait_s * 2, s.storm_retry_max_s)
        # Never past the deadline: the last try falls on it, and its error is then final.
        park.due_s = min(now + park.wait_s, park.deadline_s)
        log.warning(
            "[배치] 일시 오류로 보류, %.1f초 후 다시 조회: %s %s (%s)",
            park.due_s - now,
            job.id,
            keyword,
            storm,
        )
        return park


@dataclass
class _Parked:
    index: int  # where the keyword first comes in the job
    deadline_s: float  # loop time after which its error is final
    wait_s: float  # the wait before the next try; doubles per try
    due_s: float  # loop time of the next try
