"""The embedded store: one SQLite file (WAL), web and worker in one process.

All writes (and long reads) run on one dedicated thread with one connection, so every
transaction is serialised without locks of our own. Short point reads of one job (the status
poll) run on the event loop itself, on a second, read-only connection: WAL lets it read beside
the writer, and a read of a few pages from the OS cache costs less than the hop to the thread
and back (tens of µs, with no fight for the GIL). Waiting (for new
events, work, or a cancel) uses in-process signals, which is enough because only this process
writes the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from server.codec import dumps, loads, splice_results
from server.errors import QueueFullError, StoreUnavailableError
from server.events import (
    JOB,
    PROGRESS,
    RESULT,
    STATUS,
    Event,
    EventPage,
    make_event,
    parse_seq,
    progress_body,
    result_body,
    status_body,
)
from server.kst import kst_day
from server.model import (
    CANCELLED,
    JOBS_FEED,
    PENDING,
    PRIORITY_NAMES,
    PROCESSING,
    TERMINAL,
    ClaimedJob,
    JobSpec,
    now_ms,
)
from server.settings import Settings
from server.store.base import (
    BEAT_KEEP_MS,
    IDEMPOTENCY_WINDOW_MS,
    CachedCount,
    CreateRequest,
    Store,
    WorkerBeat,
)
from server.store.jsoncache import TerminalJsonCache
from server.store.sqlite_history import SqliteHistory
from server.store.sqlite_limits import LocalRateLimiter, SqliteKeyRegistry
from server.store.sqlite_stats import SqliteStats
from server.store.sqlite_watch import SqliteWatch
from server.store.sqlite_webhooks import SqliteWebhookLedger
from server.store.stats_base import first_day
from server.store.webhooks import WebhookLedger
from server.work.providers.base import KeyRegistry, RateLimiter

T = TypeVar("T")

# SQLite errors that mean "the store cannot take writes now", not "this request is wrong": disk
# full (or max_page_count reached), I/O error, the file unopenable. Like Redis being away.
OUTAGE_CODES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN})
PROBE_BYTES = 16 * 1024
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}


def outage(exc: BaseException) -> StoreUnavailableError | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in OUTAGE_CODES:
        return StoreUnavailableError(f"sqlite: {exc}")
    return None


# Data, not code: read as package resources, so they can be read and linted as SQL.
SCHEMA = resources.files(__package__).joinpath("sqlite_schema.sql").read_text(encoding="utf-8")
RECOUNT = resources.files(__package__).joinpath("sqlite_recount.sql").read_text(encoding="utf-8")
# Once, when the stats counters are new to a file (the one statement at open that reads every
# job; a file that has them never pays it again).
STATS_RECOUNT = (
    resources.files(__package__).joinpath("sqlite_stats_recount.sql").read_text(encoding="utf-8")
)

JOB_COLUMNS = (
    "id, status, priority, categories, total, current, created_at, started_at, completed_at, "
    "error, last_seq, source, rowid, failed, name"
)
WORK_SIGNAL = "\x00work"
# Jobs up to this many keywords are read on the event loop (~60 µs for 100 on a 2-core box);
# bigger ones go to the reader thread.
LOOP_READ_MAX_RESULTS = 200
# Cleanup deletes at most this many jobs per transaction, each batch sized to take about this
# much time: whatever queued on the writer thread meanwhile (a submission, a worker's result)
# goes next, so nothing waits behind a 100,000-job cleanup for more than one batch.
CLEANUP_BATCH_JOBS = 300
CLEANUP_FIRST_BATCH_JOBS = 50
CLEANUP_MIN_BATCH_JOBS = 5
CLEANUP_BATCH_ROWS = 500  # feed events or cache rows per transaction
CLEANUP_BATCH_BUDGET_S = 0.01
CLEANUP_PAUSE_MAX_S = 0.05
# While a cleanup runs, the WAL is checkpointed by a connection of its own on a thread of its
# own, every this many batches, instead of by the writer at a commit (SQLite's automatic
# checkpoint copies up to 1,000 pages and syncs the file inside the COMMIT: a stall of tens of
# ms for whatever waits behind it). Afterwards the WAL is folded back and truncated.
CHECKPOINT_EVERY_BATCHES = 8
# The final truncation waits this long at most (it holds back writers while it waits): a busy
# one is left to the next cleanup, and journal_size_limit bounds the file meanwhile.
CHECKPOINT_BUSY_MS = 20
# A WAL that did grow (a burst of writes) is cut back to this size after each checkpoint.
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024


def results_before(event_json: str) -> int:
    """How many results a job had committed when it appended this event (every job event
    carries its progress)."""
    current: int = loads(event_json)["progress"]["current"]
    return current


ADD_FAILED = """
BEGIN IMMEDIATE;
ALTER TABLE jobs ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET failed = (SELECT COUNT(*) FROM results
    WHERE results.job_id = jobs.id AND json_extract(results.data, '$.error') IS NOT NULL);
COMMIT;
"""


def _missing_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    """True when ``table`` exists without ``column`` (a file an older version made)."""
    columns = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    return bool(columns) and column not in columns


class LongRead(Exception):
    """This read would hold the event loop too long: run it on the thread instead."""


def sqlite_path(url: str) -> str:
    """``sqlite:///rel/path.db`` is relative, ``sqlite:////abs/path.db`` absolute."""
    rest = url.removeprefix("sqlite://")
    if not rest.startswith("/") or rest == "/":
        raise ValueError(f"bad sqlite URL {url!r}: use sqlite:///relative.db or sqlite:////abs.db")
    return rest[1:]


class SqliteStore(Store):
    stats: SqliteStats  # the engine calls its hooks in its own writes

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        # Long reads (a big job's results, a pending job's queue position, the jobs list) run
        # here, on their own read-only connection: WAL lets them read beside the writer, so a
        # poll never queues behind the worker's writes or a cleanup.
        self._read_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._checkpoint_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sqlite-checkpoint"
        )
        self._checkpointer: sqlite3.Connection | None = None  # checkpoint thread only
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None  # event loop only
        self._thread_reader: sqlite3.Connection | None = None  # reader thread only
        # Only this process writes the file, and every write to a job drops its entry: exact.
        self._json_cache = TerminalJsonCache()
        self._creates: list[tuple[CreateRequest, asyncio.Future[str]]] = []
        self._create_flusher: asyncio.Task[None] | None = None
        self._signals: dict[str, asyncio.Event] = {}
        self._limiters: dict[float, LocalRateLimiter] = {}
        self._keys = SqliteKeyRegistry(self._tx)
        self.history = SqliteHistory(self)
        self.watchlists = SqliteWatch(self)
        self.stats = SqliteStats(self)
        self._file_id: tuple[int, int] | None = None  # (st_dev, st_ino) of the file opened
        # The last write that failed for lack of space (disk full, I/O error); None once one
        # succeeds. While set, the store is "unavailable": 503s, not ready, the worker waits.
        self._write_error: str | None = None
        self._webhooks = SqliteWebhookLedger(self)

    # --- plumbing -----------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            down = outage(exc)
            if down is None:
                raise
            self._write_error = str(exc)
            raise down from exc

    async def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(partial(self._transaction, fn))

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` on the reader thread (on the writer's for ``:memory:``,
        which a second connection could not see)."""
        if self._thread_reader is None:
            return await self._run(fn, self.db, *args)
        return await asyncio.get_running_loop().run_in_executor(
            self._read_executor, partial(fn, self._thread_reader, *args)
        )

    @property
    def db(self) -> sqlite3.Connection:
        assert self._conn is not None, "store is not open"
        return self._conn

    def _signal(self, key: str) -> asyncio.Event:
        event = self._signals.get(key)
        if event is None:
            event = self._signals[key] = asyncio.Event()
        return event

    def _notify(self, *keys: str) -> None:
        for key in keys:
            event = self._signals.pop(key, None)
            if event is not None:
                event.set()

    async def _wait(self, signal: asyncio.Event, timeout_s: float) -> None:
        if timeout_s <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signal.wait(), timeout_s)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self.db
        before = db.total_changes
        db.execute("BEGIN IMMEDIATE")
        try:
            out = fn(db)
        except BaseException:
            # SQLite rolls back by itself on some errors (SQLITE_FULL among them).
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        if db.total_changes != before:
            self._write_error = None  # a write went through: there is room again
        return out

    # --- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        def _open() -> None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: WAL commits are fsynced, so a job acknowledged is a job kept through a power
            # cut; with group commit one fsync covers a whole batch of submissions.
            conn.execute(f"PRAGMA synchronous={SYNCHRONOUS[self.settings.sqlite_synchronous]}")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
            stats_are_new = (
                conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs_by_status'"
                ).fetchone()
                is None
            )
            add_failed = _missing_column(conn, "jobs", "failed")
            add_name = _missing_column(conn, "jobs", "name")
            conn.executescript(SCHEMA)
            self.stats.create(conn)
            if add_failed:  # a file from before failedCount: count what its results say
                conn.executescript(ADD_FAILED)
            if add_name:  # a file from before job names: old jobs have none
                conn.execute("ALTER TABLE jobs ADD COLUMN name TEXT")
            if stats_are_new:
                conn.executescript(STATS_RECOUNT)
            # Only one process owns this file: whatever a previous process held is free again.
            # Only a processing job is ever claimed, so the queue index finds them all.
            conn.execute(
                "UPDATE jobs SET claimed_by = NULL "
                "WHERE status = 'processing' AND claimed_by IS NOT NULL"
            )
            # The counters start from the queued jobs as they are (a file from before they
            # existed); the queue index bounds this by the queue, not by every job kept.
            conn.executescript(RECOUNT)
            self._keys.load(conn)
            self._conn = conn
            self._file_id = self._current_file_id()

        await self._run(_open)
        if self.path != ":memory:":  # a second :memory: connection would be another database
            # Never wait on the loop: a busy reader (WAL recovery) falls back to the thread.
            self._reader = self._connect_reader(busy_timeout_ms=0)
            self._thread_reader = self._connect_reader(busy_timeout_ms=5000)
            self._checkpointer = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )

    def _connect_reader(self, busy_timeout_ms: int) -> sqlite3.Connection:
        reader = sqlite3.connect(
            f"file:{self.path}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        reader.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        return reader

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        thread_reader, self._thread_reader = self._thread_reader, None
        if thread_reader is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._read_executor, thread_reader.close
            )
        self._read_executor.shutdown(wait=True)
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._checkpoint_executor, checkpointer.close
            )
        self._checkpoint_executor.shutdown(wait=True)

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._run(_close)
        self._executor.shutdown(wait=True)

    def _current_file_id(self) -> tuple[int, int] | None:
        if self.path == ":memory:":
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _check_file(self) -> None:
        """The database file deleted or replaced under us: our connection still writes to the
        old inode, which nobody will ever read again. Nothing may be acknowledged then."""
        if self.path != ":memory:" and self._current_file_id() != self._file_id:
            raise StoreUnavailableError(f"database file {self.path} was removed or replaced")

    def _probe_write(self) -> None:
        """After a write failed for lack of space: can a few pages be written now? Inserted
        and deleted in one committed transaction, so a full disk fails the commit and a
        ``max_page_count`` reached fails the insert."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS write_probe (b BLOB)")
            db.execute("INSERT INTO write_probe VALUES (zeroblob(?))", (PROBE_BYTES,))
            db.execute("DELETE FROM write_probe")
        except BaseException:
            # SQLite rolls back by itself on some errors (SQLITE_FULL among them).
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def ping(self) -> None:
        """Unavailable while the file is gone, or while writes fail for lack of space (then
        each ping probes with a small write, so readiness comes back with the space)."""

        def _ping() -> None:
            self._check_file()
            if self._write_error is not None:
                self._probe_write()
            self.db.execute("SELECT 1").fetchone()

        await self._run(_ping)
        self._write_error = None

    # --- rows to contract ---------------------------------------------------------------

    def _summary(
        self,
        row: sqlite3.Row | tuple[Any, ...],
        db: sqlite3.Connection,
        position: int | None = None,
    ) -> dict[str, Any]:
        """``position``: the queuePosition when the caller knows it (a job just queued)."""
        (jid, status, prio, cats, total, current, created, started, completed, error, seq, src,
         rowid, failed, name) = row  # fmt: skip
        if status == PENDING and position is None:
            position = db.execute(
                "SELECT COUNT(*) + 1 FROM jobs WHERE status = 'pending' AND "
                "(priority < ? OR (priority = ? AND rowid < ?))",
                (prio, prio, rowid),
            ).fetchone()[0]
        return {
            "id": jid,
            "status": status,
            "progress": {"current": current, "total": total},
            "categories": loads(cats),
            "priority": PRIORITY_NAMES.get(prio, "normal"),
            "queuePosition": position,
            "createdAt": created,
            "startedAt": started,
            "completedAt": completed,
            "error": error,
            "lastEventId": str(seq),
            "source": src,
            "failedCount": failed,
            "name": name,
        }

    def _job_row(self, db: sqlite3.Connection, job_id: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return row

    def _job_summary(self, db: sqlite3.Connection, job_id: str) -> dict[str, Any] | None:
        row = self._job_row(db, job_id)
        return None if row is None else self._summary(row, db)

    def _append(
        self, db: sqlite3.Connection, job_id: str, type_: str, body: dict[str, Any]
    ) -> Event:
        if job_id == JOBS_FEED:
            seq = db.execute(
                "INSERT INTO feeds (name, last_seq) VALUES (?, 1) ON CONFLICT (name) "
                "DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
                (job_id,),
            ).fetchone()[0]
        else:
            seq = db.execute(
                "UPDATE jobs SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
                (job_id,),
            ).fetchone()[0]
        event = make_event(str(seq), job_id, type_, body)
        db.execute(
            "INSERT INTO events (job_id, seq, type, data, created_at) VALUES (?, ?, ?, ?, ?)",
            (job_id, seq, type_, event.json, now_ms()),
        )
        return event

    def _append_feed(
        self, db: sqlite3.Connection, job_id: str, position: int | None = None
    ) -> Event:
        row = self._job_row(db, job_id)
        assert row is not None
        summary = self._summary(row, db, position)
        return self._append(db, JOBS_FEED, JOB, {"job": summary})

    def _status_event(self, db: sqlite3.Connection, job_id: str) -> Event:
        status, error, current, total = db.execute(
            "SELECT status, error, current, total FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return self._append(db, job_id, STATUS, status_body(status, error, current, total))

    # --- jobs ---------------------------------------------------------------------------

    def _create(self, db: sqlite3.Connection, spec: JobSpec) -> None:
        db.execute(
            "INSERT INTO jobs (id, status, priority, keywords, categories, total, "
            "created_at, source, client, name) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                spec.id,
                spec.priority,
                dumps(list(spec.keywords)),
                dumps(list(spec.categories)),
                len(spec.keywords),
                spec.created_ms,
                spec.source,
                spec.client,
                spec.name,
            ),
        )
        self._status_event(db, spec.id)
        self.stats.created(db)
        # Queued last of its priority: behind every pending job of this priority or higher.
        position = db.execute(
            "SELECT SUM(n) FROM pending_by_priority WHERE priority <= ?", (spec.priority,)
        ).fetchone()[0]
        self._append_feed(db, spec.id, position)

    def _create_checked(self, db: sqlite3.Connection, req: CreateRequest) -> BaseException | str:
        """The job id (a new job's, or the one its idempotency key already made), or the
        refusal. The key and the cap are read in the transaction that inserts: no other create
        can slip between."""
        spec = req.spec
        if req.idempotency_key is not None:
            row = db.execute(
                "SELECT job_id FROM idempotency WHERE client = ? AND key = ? AND created_at > ?",
                (spec.client, req.idempotency_key, spec.created_ms - IDEMPOTENCY_WINDOW_MS),
            ).fetchone()
            if row is not None:
                job_id: str = row[0]
                return job_id
        if req.max_queued is not None:
            row = db.execute(
                "SELECT n FROM queued_by_client WHERE client = ?", (spec.client,)
            ).fetchone()
            if row is not None and row[0] >= req.max_queued:
                return QueueFullError(req.max_queued)
        self._create(db, spec)
        if req.idempotency_key is not None:
            db.execute(
                "INSERT OR REPLACE INTO idempotency (client, key, job_id, created_at) "
                "VALUES (?, ?, ?, ?)",
                (spec.client, req.idempotency_key, spec.id, spec.created_ms),
            )
        return spec.id

    def _create_batch(self, reqs: list[CreateRequest]) -> list[BaseException | str]:
        """On the thread: all of ``reqs`` in one transaction, in order (a refused one is
        skipped, not an error of the batch). If one fails, that transaction is rolled back and
        each is created in its own, so only it fails."""

        def _all(db: sqlite3.Connection) -> list[BaseException | str]:
            return [self._create_checked(db, req) for req in reqs]

        self._check_file()  # one stat per batch: never acknowledge into a deleted file
        try:
            return self._transaction(_all)
        except Exception:
            if len(reqs) == 1:
                raise
        outcomes: list[BaseException | str] = []
        for req in reqs:
            try:
                outcomes.append(self._transaction(partial(self._create_checked, req=req)))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def create_job(
        self,
        spec: JobSpec,
        *,
        max_queued: int | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        # Group commit: submissions that arrive while a batch is being written go together in
        # the next one (one transaction and one thread hop for all of them).
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._creates.append((CreateRequest(spec, max_queued, idempotency_key), done))
        if self._create_flusher is None:
            self._create_flusher = asyncio.create_task(self._flush_creates())
        return await done

    async def _flush_creates(self) -> None:
        batch: list[tuple[CreateRequest, asyncio.Future[str]]] = []
        try:
            while self._creates:
                batch, self._creates = self._creates, []
                try:
                    outcomes = await self._run(self._create_batch, [r for r, _ in batch])
                except Exception as exc:
                    outcomes = [exc] * len(batch)
                for (req, done), outcome in zip(batch, outcomes, strict=True):
                    if outcome == req.spec.id:
                        # Even if its caller went away: the job stands, and a worker may take it.
                        self._notify(req.spec.id, JOBS_FEED, WORK_SIGNAL)
                    if done.done():
                        continue
                    if isinstance(outcome, BaseException):
                        down = outage(outcome)
                        if down is not None:
                            self._write_error = str(outcome)
                        done.set_exception(down or outcome)
                    else:
                        done.set_result(outcome)
                batch = []
        except BaseException:
            # Cancelled (shutdown) mid-batch: nobody waits forever on a create.
            for _, done in batch + self._creates:
                if not done.done():
                    done.set_exception(StoreUnavailableError("store is closing"))
            self._creates = []
            raise
        finally:
            self._create_flusher = None

    async def get_job(self, job_id: str, *, with_results: bool = True) -> dict[str, Any] | None:
        def _get(db: sqlite3.Connection) -> dict[str, Any] | None:
            # One read transaction, so lastEventId matches the results exactly.
            db.execute("BEGIN")
            try:
                summary = self._job_summary(db, job_id)
                if summary is not None and with_results:
                    rows = db.execute(
                        "SELECT data FROM results WHERE job_id = ? ORDER BY idx", (job_id,)
                    ).fetchall()
                    summary["results"] = [loads(r[0]) for r in rows]
                return summary
            finally:
                db.execute("COMMIT")

        return await self._read(_get)

    def _read_job_json(
        self, db: sqlite3.Connection, job_id: str, since_seq: int | None, on_loop: bool
    ) -> tuple[str, str, bool] | None:
        """(job JSON, status, gap), or None: no such job. With ``since_seq``, only the results
        committed after that event (all of them, and gap, when the log no longer holds it).
        Raises LongRead on the loop when the read would not be short, ValueError for an event
        id past the job's last. One read transaction, so lastEventId matches the results."""
        db.execute("BEGIN")
        try:
            row = self._job_row(db, job_id)
            if row is None:
                return None
            status, current, last_seq = row[1], row[5], row[10]
            # A pending job's queuePosition counts the queue ahead of it: not on the loop.
            if on_loop and status == PENDING:
                raise LongRead
            first, gap = 0, False
            if since_seq is not None:
                if since_seq > last_seq:
                    raise ValueError(f"event {since_seq} is past the job's last ({last_seq})")
                if since_seq > 0:
                    event = db.execute(
                        "SELECT data FROM events WHERE job_id = ? AND seq = ?",
                        (job_id, since_seq),
                    ).fetchone()
                    if event is None:
                        gap = True
                    else:
                        first = results_before(event[0])
            if on_loop and current - first > LOOP_READ_MAX_RESULTS:
                raise LongRead
            summary = self._summary(row, db)
            # Results are a prefix (committed in keyword order): those after the event are
            # the indices from the count it showed.
            texts = []
            if first > 0:
                # Results of the prefix already sent that were replaced since (their volume).
                texts = [
                    r[0]
                    for r in db.execute(
                        "SELECT r.data FROM result_updates u JOIN results r ON "
                        "r.job_id = u.job_id AND r.idx = u.idx WHERE u.job_id = ? AND u.idx < ? "
                        "AND u.seq > ? ORDER BY u.idx",
                        (job_id, first, since_seq),
                    ).fetchall()
                ]
            texts += [
                r[0]
                for r in db.execute(
                    "SELECT data FROM results WHERE job_id = ? AND idx >= ? ORDER BY idx",
                    (job_id, first),
                ).fetchall()
            ]
            return splice_results(dumps(summary), texts), status, gap
        finally:
            db.execute("COMMIT")

    async def _job_json_read(
        self, job_id: str, since_seq: int | None
    ) -> tuple[str, str, bool] | None:
        if self._reader is not None:
            try:
                return self._read_job_json(self._reader, job_id, since_seq, True)
            except LongRead:
                pass
            except sqlite3.OperationalError:
                pass  # busy (WAL recovery): the reader thread's connection waits its turn
        return await self._read(self._read_job_json, job_id, since_seq, False)

    async def get_job_json(self, job_id: str) -> str | None:
        cached = self._json_cache.get(job_id)
        if cached is not None:
            return cached
        generation = self._json_cache.generation
        got = await self._job_json_read(job_id, None)
        if got is None:
            return None
        text, status, _ = got
        if status in TERMINAL:
            self._json_cache.put(job_id, text, generation)
        return text

    async def get_job_json_since(self, job_id: str, since: str) -> tuple[str, bool] | None:
        got = await self._job_json_read(job_id, parse_seq(since))
        return None if got is None else (got[0], got[2])

    async def list_jobs(self, limit: int) -> list[dict[str, Any]]:
        def _list(db: sqlite3.Connection) -> list[dict[str, Any]]:
            db.execute("BEGIN")
            try:
                rows = db.execute(
                    f"SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?",
                    (limit,),
                ).fetchall()
                return [self._summary(r, db) for r in rows]
            finally:
                db.execute("COMMIT")

        return await self._read(_list)

    async def count_queued(self, client: str) -> int:
        def _count(db: sqlite3.Connection) -> int:
            row = db.execute(
                "SELECT n FROM queued_by_client WHERE client = ?", (client,)
            ).fetchone()
            return 0 if row is None else int(row[0])

        if self._reader is not None:  # one row: read it on the loop
            with contextlib.suppress(sqlite3.OperationalError):
                return _count(self._reader)
        return await self._run(_count, self.db)

    def _claim(self, db: sqlite3.Connection, worker_id: str) -> tuple[ClaimedJob | None, list[str]]:
        """In a transaction: take the next job (the bodies of the async methods are methods
        so that a bulk load, the benchmarks', can run many in one transaction)."""
        row = db.execute(
            "SELECT id, status, keywords, categories, current, started_at, priority FROM jobs "
            "WHERE claimed_by IS NULL AND status IN ('pending', 'processing') "
            "ORDER BY status = 'processing' DESC, priority, rowid LIMIT 1"
        ).fetchone()
        if row is None:
            return None, []
        job_id, status, keywords, categories, current, started, priority = row
        touched: list[str] = []
        if status == PENDING:
            started = now_ms()
            db.execute(
                "UPDATE jobs SET status = 'processing', started_at = ?, claimed_by = ? "
                "WHERE id = ?",
                (started, worker_id, job_id),
            )
            self._status_event(db, job_id)
            self._append_feed(db, job_id)
            touched = [job_id, JOBS_FEED]
        else:
            db.execute("UPDATE jobs SET claimed_by = ? WHERE id = ?", (worker_id, job_id))
        claimed = ClaimedJob(
            id=job_id,
            keywords=tuple(loads(keywords)),
            categories=tuple(loads(categories)),
            next_index=current,
            started_ms=started,
            priority=priority,
        )
        return claimed, touched

    async def claim_next(self, worker_id: str, timeout_s: float) -> ClaimedJob | None:
        deadline = time.monotonic() + timeout_s
        while True:
            signal = self._signal(WORK_SIGNAL)
            claimed, touched = await self._tx(partial(self._claim, worker_id=worker_id))
            if claimed is not None:
                self._notify(*touched)
                return claimed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await self._wait(signal, remaining)

    def _record(
        self, db: sqlite3.Connection, job_id: str, index: int, result: dict[str, Any]
    ) -> Event:
        cur = db.execute(
            "INSERT OR IGNORE INTO results (job_id, idx, data) VALUES (?, ?, ?)",
            (job_id, index, dumps(result)),
        )
        # A repeated index (a resumed job's last commit) adds no progress.
        step = 1 if cur.rowcount else 0
        if step:
            self.stats.recorded(db, result)
        failed = step if result.get("error") is not None else 0
        current, total = db.execute(
            "UPDATE jobs SET current = current + ?, failed = failed + ? WHERE id = ? "
            "RETURNING current, total",
            (step, failed, job_id),
        ).fetchone()
        return self._append(db, job_id, RESULT, result_body(result, current, total))

    async def record_result(
        self, job_id: str, index: int, result: dict[str, Any], worker_id: str
    ) -> Event:
        event = await self._tx(partial(self._record, job_id=job_id, index=index, result=result))
        self._json_cache.drop(job_id)
        self._notify(job_id)
        return event

    async def update_result(
        self, job_id: str, index: int, result: dict[str, Any], worker_id: str
    ) -> Event | None:
        def _update(db: sqlite3.Connection) -> Event | None:
            cur = db.execute(
                "UPDATE results SET data = ? WHERE job_id = ? AND idx = ?",
                (dumps(result), job_id, index),
            )
            if not cur.rowcount:
                return None
            current, total = db.execute(
                "SELECT current, total FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            event = self._append(db, job_id, "result", result_body(result, current, total))
            db.execute(
                "INSERT OR REPLACE INTO result_updates (job_id, idx, seq) VALUES (?, ?, ?)",
                (job_id, index, int(event.id)),
            )
            return event

        event = await self._tx(_update)
        if event is not None:
            self._json_cache.drop(job_id)
            self._notify(job_id)
        return event

    async def append_progress(self, job_id: str, extra: dict[str, Any]) -> Event:
        def _progress(db: sqlite3.Connection) -> Event:
            current, total = db.execute(
                "SELECT current, total FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            return self._append(db, job_id, PROGRESS, {**progress_body(current, total), **extra})

        event = await self._tx(_progress)
        self._json_cache.drop(job_id)
        self._notify(job_id)
        return event

    def _finish(self, db: sqlite3.Connection, job_id: str, status: str, error: str | None) -> Event:
        db.execute(
            "UPDATE jobs SET status = ?, error = ?, completed_at = ?, claimed_by = NULL "
            "WHERE id = ?",
            (status, error, now_ms(), job_id),
        )
        event = self._status_event(db, job_id)
        self._append_feed(db, job_id)
        return event

    async def finish(self, job_id: str, status: str, error: str | None, worker_id: str) -> Event:
        assert status in TERMINAL
        event = await self._tx(partial(self._finish, job_id=job_id, status=status, error=error))
        self._json_cache.drop(job_id)
        self._notify(job_id, JOBS_FEED)
        return event

    async def request_cancel(self, job_id: str) -> dict[str, Any] | None:
        def _cancel(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            if row[0] == PENDING:
                db.execute(
                    "UPDATE jobs SET status = ?, completed_at = ?, cancel_requested = 1 "
                    "WHERE id = ?",
                    (CANCELLED, now_ms(), job_id),
                )
                self._status_event(db, job_id)
                self._append_feed(db, job_id)
            elif row[0] == PROCESSING:
                db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            return self._job_summary(db, job_id)

        summary = await self._tx(_cancel)
        self._json_cache.drop(job_id)
        self._notify(job_id, JOBS_FEED, "cancel:" + job_id)
        return summary

    async def wait_cancel(self, job_id: str) -> None:
        def _flag() -> bool:
            row = self.db.execute(
                "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            return row is None or bool(row[0])

        while True:
            signal = self._signal("cancel:" + job_id)
            if await self._run(_flag):
                return
            await signal.wait()

    # --- event logs ---------------------------------------------------------------------

    async def read_events(
        self, job_id: str, after: str | None, *, limit: int = 1000, block_s: float = 0.0
    ) -> EventPage:
        after_seq = parse_seq(after)

        def _read() -> EventPage:
            db = self.db
            rows = db.execute(
                "SELECT seq, type, data FROM events WHERE job_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (job_id, after_seq, limit),
            ).fetchall()
            gap = False
            if after_seq and (not rows or rows[0][0] != after_seq + 1):
                oldest = db.execute(
                    "SELECT MIN(seq) FROM events WHERE job_id = ?", (job_id,)
                ).fetchone()[0]
                gap = oldest is not None and oldest > after_seq + 1
            return EventPage([Event(str(s), t, d) for s, t, d in rows], gap)

        signal = self._signal(job_id)
        page = await self._run(_read)
        if page.events or page.gap or block_s <= 0:
            return page
        await self._wait(signal, block_s)
        return await self._run(_read)

    async def last_event_id(self, job_id: str) -> str | None:
        def _last() -> str | None:
            seq = self.db.execute(
                "SELECT MAX(seq) FROM events WHERE job_id = ?", (job_id,)
            ).fetchone()[0]
            return None if seq is None else str(seq)

        return await self._run(_last)

    async def append_feed(self, job: dict[str, Any]) -> Event:
        event = await self._tx(lambda db: self._append(db, JOBS_FEED, JOB, {"job": job}))
        self._notify(JOBS_FEED)
        return event

    # --- upstream support ---------------------------------------------------------------

    async def cache_get(
        self, origin: str, keyword: str, categories: tuple[str, ...]
    ) -> dict[str, CachedCount]:
        def _get() -> dict[str, CachedCount]:
            rows = self.db.execute(
                "SELECT category, count, observed_at FROM counts "
                "WHERE origin = ? AND keyword = ? AND expires_at > ?",
                (origin, keyword, now_ms()),
            ).fetchall()
            return {c: CachedCount(n, at) for c, n, at in rows if c in categories}

        return await self._run(_get)

    async def cache_put(
        self, origin: str, keyword: str, category: str, count: int, observed_ms: int
    ) -> None:
        expires = observed_ms + int(self.settings.cache_ttl_s * 1000)

        def _put() -> None:
            self.db.execute(
                "INSERT OR REPLACE INTO counts "
                "(origin, keyword, category, count, observed_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (origin, keyword, category, count, observed_ms, expires),
            )

        await self._run(_put)

    async def volume_cache_get(self, origin: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}

        def _get() -> dict[str, dict[str, Any]]:
            marks = ",".join("?" * len(keys))
            rows = self.db.execute(
                f"SELECT keyword, data FROM volumes WHERE origin = ? AND keyword IN ({marks}) "
                "AND expires_at > ?",
                (origin, *keys, now_ms()),
            ).fetchall()
            return {k: loads(d) for k, d in rows}

        return await self._run(_get)

    async def volume_cache_put(self, origin: str, rows: dict[str, dict[str, Any]]) -> None:
        if not rows:
            return
        expires = now_ms() + int(self.settings.volume_cache_ttl_s * 1000)

        def _put(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR REPLACE INTO volumes "
                "(origin, keyword, data, observed_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                [(origin, k, dumps(r), r["observedAt"], expires) for k, r in rows.items()],
            )

        await self._tx(_put)

    def limiter(self, rate_per_s: float) -> RateLimiter:
        limiter = self._limiters.get(rate_per_s)
        if limiter is None:
            limiter = self._limiters[rate_per_s] = LocalRateLimiter(rate_per_s)
        return limiter

    def key_registry(self) -> KeyRegistry:
        return self._keys

    def webhook_ledger(self) -> WebhookLedger:
        return self._webhooks

    # --- upkeep -------------------------------------------------------------------------

    async def cleanup(self, now: int) -> int:
        cutoff = now - int(self.settings.job_ttl_s * 1000)
        removed = 0
        checkpoint: asyncio.Future[None] | None = None
        if self._checkpointer is not None:
            await self._run(self.db.execute, "PRAGMA wal_autocheckpoint=0")
        try:
            batches = 0
            limit = CLEANUP_FIRST_BATCH_JOBS
            while True:
                ids, took_s = await self._run(self._cleanup_jobs, cutoff, limit)
                more = len(ids) == limit
                # Jobs differ in size (10 results or 1,000): the next batch is sized from how
                # long this one took, to stay near the budget.
                limit = max(
                    CLEANUP_MIN_BATCH_JOBS,
                    min(
                        CLEANUP_BATCH_JOBS, int(limit * CLEANUP_BATCH_BUDGET_S / max(took_s, 1e-4))
                    ),
                )
                removed += len(ids)
                for job_id in ids:
                    self._json_cache.drop(job_id)
                # Signals left by waiters of these jobs (a reader that timed out, a worker's
                # cancel watch) would otherwise stay in the map for the life of the process.
                self._notify(*ids, *("cancel:" + job_id for job_id in ids))
                batches += 1
                # Yield as long as the batch took: the cleanup takes at most about half of the
                # writer thread (and of the GIL), whatever else this process is doing.
                await asyncio.sleep(min(took_s, CLEANUP_PAUSE_MAX_S))
                if batches % CHECKPOINT_EVERY_BATCHES == 0 and (
                    checkpoint is None or checkpoint.done()
                ):
                    checkpoint = self._start_checkpoint("PASSIVE")
                if not more:
                    break
            while await self._tx(partial(self._cleanup_feed, cutoff=cutoff)):
                pass
            while await self._tx(partial(self._cleanup_cache, now=now)):
                pass
            expired_keys = now - IDEMPOTENCY_WINDOW_MS
            while await self._tx(partial(self._cleanup_idempotency, before=expired_keys)):
                pass
        finally:
            self._json_cache.clear()
            if self._checkpointer is not None:
                await self._run(self.db.execute, "PRAGMA wal_autocheckpoint=1000")
        if checkpoint is not None:
            await checkpoint
        if removed:
            # Everything the cleanup wrote goes into the file beside the writer; then the WAL,
            # by now empty of anything new, is truncated in a moment.
            await self._start_checkpoint("PASSIVE")
            await self._start_checkpoint("TRUNCATE")
        return removed

    def _start_checkpoint(self, mode: str) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        if self._checkpointer is None:
            done: asyncio.Future[None] = loop.create_future()
            done.set_result(None)
            return done
        return loop.run_in_executor(
            self._checkpoint_executor, partial(self._checkpoint, self._checkpointer, mode)
        )

    @staticmethod
    def _checkpoint(db: sqlite3.Connection, mode: str) -> None:
        """On the checkpoint thread. PASSIVE copies what it can without waiting for anyone;
        TRUNCATE waits (holding back writers) at most CHECKPOINT_BUSY_MS, then gives up."""
        db.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS if mode == 'TRUNCATE' else 0}")
        with contextlib.suppress(sqlite3.OperationalError):
            db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()

    def _cleanup_jobs(self, cutoff: int, limit: int) -> tuple[list[str], float]:
        """On the writer thread, one transaction of up to ``limit`` jobs: (ids deleted, seconds
        it took, commit included). A few set-wise statements rather than three per job: each
        gives the GIL back to the event loop and the readers for all of its rows at once."""
        started = time.perf_counter()

        def _delete(db: sqlite3.Connection) -> list[str]:
            # By the end-time index, oldest first: the planner would otherwise pick the status
            # index, and sort every finished job kept for each batch.
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM jobs INDEXED BY jobs_completed WHERE completed_at < ? "
                    "AND status IN ('completed', 'failed', 'cancelled') ORDER BY completed_at "
                    "LIMIT ?",
                    (cutoff, limit),
                )
            ]
            if ids:
                marks = ",".join("?" * len(ids))
                db.execute(f"DELETE FROM results WHERE job_id IN ({marks})", ids)
                db.execute(f"DELETE FROM result_updates WHERE job_id IN ({marks})", ids)
                db.execute(f"DELETE FROM events WHERE job_id IN ({marks})", ids)
                db.execute(f"DELETE FROM jobs WHERE id IN ({marks})", ids)
            return ids

        ids = self._transaction(_delete)
        return ids, time.perf_counter() - started

    @staticmethod
    def _cleanup_feed(db: sqlite3.Connection, cutoff: int) -> bool:
        """Drop the jobs feed's oldest events written before ``cutoff`` (its seq grows with
        time), one batch; True when a whole batch went and more may be left."""
        rows = db.execute(
            "SELECT seq, created_at FROM events WHERE job_id = ? ORDER BY seq LIMIT ?",
            (JOBS_FEED, CLEANUP_BATCH_ROWS),
        ).fetchall()
        old = 0
        for seq, created in rows:
            if created >= cutoff:
                break
            old = seq
        if old:
            db.execute("DELETE FROM events WHERE job_id = ? AND seq <= ?", (JOBS_FEED, old))
        return bool(rows) and old == rows[-1][0] and len(rows) == CLEANUP_BATCH_ROWS

    @staticmethod
    def _cleanup_cache(db: sqlite3.Connection, now: int) -> bool:
        gone = db.execute(
            "DELETE FROM counts WHERE (origin, keyword, category) IN (SELECT origin, keyword, "
            "category FROM counts WHERE expires_at <= ? LIMIT ?)",
            (now, CLEANUP_BATCH_ROWS),
        ).rowcount
        gone_volumes = db.execute(
            "DELETE FROM volumes WHERE (origin, keyword) IN (SELECT origin, keyword "
            "FROM volumes WHERE expires_at <= ? LIMIT ?)",
            (now, CLEANUP_BATCH_ROWS),
        ).rowcount
        # Kept for /api/stats' window (a few rows a key a day, found by the primary key's
        # leading day).
        db.execute("DELETE FROM key_calls WHERE day < ?", (first_day(kst_day(now)),))
        return bool(CLEANUP_BATCH_ROWS in (gone, gone_volumes))

    @staticmethod
    def _cleanup_idempotency(db: sqlite3.Connection, before: int) -> bool:
        gone = db.execute(
            "DELETE FROM idempotency WHERE (client, key) IN (SELECT client, key FROM "
            "idempotency WHERE created_at <= ? LIMIT ?)",
            (before, CLEANUP_BATCH_ROWS),
        ).rowcount
        return bool(gone == CLEANUP_BATCH_ROWS)

    async def heartbeat(
        self,
        worker_id: str,
        job_ids: list[str],
        now_ms: int,
        *,
        quota_waits: Mapping[str, int] | None = None,
    ) -> None:
        # The jobs column stays a plain list unless some job waits for the quota, so a file
        # written by this version reads the same in an older one while none waits.
        held: Any = {"jobs": job_ids, "quotaWaits": dict(quota_waits)} if quota_waits else job_ids

        def _beat(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO workers (id, seen_at, jobs) VALUES (?, ?, ?)",
                (worker_id, now_ms, dumps(held)),
            )

        await self._tx(_beat)

    async def forget_worker(self, worker_id: str) -> None:
        await self._tx(lambda db: db.execute("DELETE FROM workers WHERE id = ?", (worker_id,)))

    async def heartbeats(self, now_ms: int) -> list[WorkerBeat]:
        def _read(db: sqlite3.Connection) -> list[WorkerBeat]:
            db.execute("DELETE FROM workers WHERE seen_at < ?", (now_ms - BEAT_KEEP_MS,))
            rows = db.execute("SELECT id, seen_at, jobs FROM workers ORDER BY seen_at DESC")
            return [_beat_of(w, seen, loads(jobs)) for w, seen, jobs in rows]

        return await self._tx(_read)

    async def job_stats(self) -> dict[str, Any]:
        def _stats(db: sqlite3.Connection) -> dict[str, Any]:
            db.execute("BEGIN")
            try:
                by_status = dict(db.execute("SELECT status, n FROM jobs_by_status"))
                sum_ms, n = db.execute("SELECT sum_ms, n FROM job_time").fetchone()
            finally:
                db.execute("COMMIT")
            return {
                "byStatus": {
                    s: by_status.get(s, 0) for s in (PENDING, PROCESSING, *sorted(TERMINAL))
                },
                "queueDepth": by_status.get(PENDING, 0),
                "avgJobMs": round(sum_ms / n) if n > 0 else None,
            }

        # A few rows of counters: read on the loop, never queued behind the worker's writes.
        if self._reader is not None:
            with contextlib.suppress(sqlite3.OperationalError):
                return _stats(self._reader)
        return await self._read(_stats)


def _beat_of(worker_id: str, seen_ms: int, held: Any) -> WorkerBeat:
    if isinstance(held, dict):
        return WorkerBeat(worker_id, seen_ms, tuple(held["jobs"]), held.get("quotaWaits", {}))
    return WorkerBeat(worker_id, seen_ms, tuple(held))
