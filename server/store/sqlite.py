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
from collections.abc import Callable
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
from server.store.base import IDEMPOTENCY_WINDOW_MS, CreateRequest, Store
from server.store.jsoncache import TerminalJsonCache
from server.store.sqlite_limits import LocalKeyRegistry, LocalRateLimiter
from server.work.providers.base import KeyRegistry, RateLimiter

T = TypeVar("T")

# SQLite errors that mean "the store cannot take writes now", not "this request is wrong": disk
# full (or max_page_count reached), I/O error, the file unopenable. Like Redis being away.
OUTAGE_CODES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN})
PROBE_BYTES = 16 * 1024


def outage(exc: BaseException) -> StoreUnavailableError | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in OUTAGE_CODES:
        return StoreUnavailableError(f"sqlite: {exc}")
    return None


# Data, not code: read as package resources, so they can be read and linted as SQL.
SCHEMA = resources.files(__package__).joinpath("sqlite_schema.sql").read_text(encoding="utf-8")
RECOUNT = resources.files(__package__).joinpath("sqlite_recount.sql").read_text(encoding="utf-8")

JOB_COLUMNS = (
    "id, status, priority, categories, total, current, created_at, started_at, completed_at, "
    "error, last_seq, source, rowid, name"
)
WORK_SIGNAL = "\x00work"
# Jobs up to this many keywords are read on the event loop (~60 µs for 100 on a 2-core box);
# bigger ones go to the thread.
LOOP_READ_MAX_RESULTS = 200


class LongRead(Exception):
    """This read would hold the event loop too long: run it on the thread instead."""


def sqlite_path(url: str) -> str:
    """``sqlite:///rel/path.db`` is relative, ``sqlite:////abs/path.db`` absolute."""
    rest = url.removeprefix("sqlite://")
    if not rest.startswith("/") or rest == "/":
        raise ValueError(f"bad sqlite URL {url!r}: use sqlite:///relative.db or sqlite:////abs.db")
    return rest[1:]


class SqliteStore(Store):
    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None  # event loop only
        # Only this process writes the file, and every write to a job drops its entry: exact.
        self._json_cache = TerminalJsonCache()
        self._creates: list[tuple[CreateRequest, asyncio.Future[str]]] = []
        self._create_flusher: asyncio.Task[None] | None = None
        self._signals: dict[str, asyncio.Event] = {}
        self._limiters: dict[float, LocalRateLimiter] = {}
        self._keys = LocalKeyRegistry()
        self._file_id: tuple[int, int] | None = None  # (st_dev, st_ino) of the file opened
        # The last write that failed for lack of space (disk full, I/O error); None once one
        # succeeds. While set, the store is "unavailable": 503s, not ready, the worker waits.
        self._write_error: str | None = None

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
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(SCHEMA)
            # A file from before job names: the column is added, old jobs have none.
            if "name" not in {r[1] for r in conn.execute("PRAGMA table_info(jobs)")}:
                conn.execute("ALTER TABLE jobs ADD COLUMN name TEXT")
            # Only one process owns this file: whatever a previous process held is free again.
            conn.execute("UPDATE jobs SET claimed_by = NULL WHERE claimed_by IS NOT NULL")
            # The counters start from the jobs as they are (a file from before they existed).
            conn.executescript(RECOUNT)
            self._conn = conn
            self._file_id = self._current_file_id()

        await self._run(_open)
        if self.path != ":memory:":  # a second :memory: connection would be another database
            reader = sqlite3.connect(
                f"file:{self.path}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
            # Never wait on the loop: a busy reader (WAL recovery) falls back to the thread.
            reader.execute("PRAGMA busy_timeout=0")
            self._reader = reader

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

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
         rowid, name) = row  # fmt: skip
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
        def _get() -> dict[str, Any] | None:
            db = self.db
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

        return await self._run(_get)

    def _job_json(self, db: sqlite3.Connection, row: tuple[Any, ...]) -> str:
        """The job of ``row`` with its results, encoded. Call inside the read transaction that
        read the row, so lastEventId matches the results exactly."""
        job_id = row[0]
        summary = self._summary(row, db)
        texts = [
            r[0]
            for r in db.execute(
                "SELECT data FROM results WHERE job_id = ? ORDER BY idx", (job_id,)
            ).fetchall()
        ]
        return splice_results(dumps(summary), texts)

    def _read_job_json(
        self, db: sqlite3.Connection, job_id: str, on_loop: bool
    ) -> tuple[str, str] | None:
        """(job JSON, status), or None: no such job. Raises LongRead on the loop when the read
        would not be short."""
        db.execute("BEGIN")
        try:
            row = self._job_row(db, job_id)
            if row is None:
                return None
            # A pending job's queuePosition counts the queue ahead of it, and a big job has many
            # result rows: both can take a millisecond, so not on the loop.
            if on_loop and (row[1] == PENDING or row[4] > LOOP_READ_MAX_RESULTS):
                raise LongRead
            return self._job_json(db, row), row[1]
        finally:
            db.execute("COMMIT")

    async def get_job_json(self, job_id: str) -> str | None:
        cached = self._json_cache.get(job_id)
        if cached is not None:
            return cached
        generation = self._json_cache.generation
        got: tuple[str, str] | None = None
        on_thread = True
        if self._reader is not None:
            try:
                got = self._read_job_json(self._reader, job_id, True)
                on_thread = False
            except LongRead:
                pass
            except sqlite3.OperationalError:
                pass  # busy (WAL recovery): the writer thread's connection waits its turn
        if on_thread:
            got = await self._run(self._read_job_json, self.db, job_id, False)
        if got is None:
            return None
        text, status = got
        if status in TERMINAL:
            self._json_cache.put(job_id, text, generation)
        return text

    async def list_jobs(self, limit: int) -> list[dict[str, Any]]:
        def _list() -> list[dict[str, Any]]:
            db = self.db
            rows = db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (limit,),
            ).fetchall()
            return [self._summary(r, db) for r in rows]

        return await self._run(_list)

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

    async def claim_next(self, worker_id: str, timeout_s: float) -> ClaimedJob | None:
        def _claim(db: sqlite3.Connection) -> tuple[ClaimedJob | None, list[str]]:
            row = db.execute(
                "SELECT id, status, keywords, categories, current, started_at FROM jobs "
                "WHERE claimed_by IS NULL AND status IN ('pending', 'processing') "
                "ORDER BY status = 'processing' DESC, priority, rowid LIMIT 1"
            ).fetchone()
            if row is None:
                return None, []
            job_id, status, keywords, categories, current, started = row
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
            )
            return claimed, touched

        deadline = time.monotonic() + timeout_s
        while True:
            signal = self._signal(WORK_SIGNAL)
            claimed, touched = await self._tx(_claim)
            if claimed is not None:
                self._notify(*touched)
                return claimed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await self._wait(signal, remaining)

    async def record_result(
        self, job_id: str, index: int, result: dict[str, Any], worker_id: str
    ) -> Event:
        def _record(db: sqlite3.Connection) -> Event:
            cur = db.execute(
                "INSERT OR IGNORE INTO results (job_id, idx, data) VALUES (?, ?, ?)",
                (job_id, index, dumps(result)),
            )
            # A repeated index (a resumed job's last commit) adds no progress.
            step = 1 if cur.rowcount else 0
            current, total = db.execute(
                "UPDATE jobs SET current = current + ? WHERE id = ? RETURNING current, total",
                (step, job_id),
            ).fetchone()
            return self._append(db, job_id, RESULT, result_body(result, current, total))

        event = await self._tx(_record)
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
            return self._append(db, job_id, "result", result_body(result, current, total))

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

    async def finish(self, job_id: str, status: str, error: str | None, worker_id: str) -> Event:
        assert status in TERMINAL

        def _finish(db: sqlite3.Connection) -> Event:
            db.execute(
                "UPDATE jobs SET status = ?, error = ?, completed_at = ?, claimed_by = NULL "
                "WHERE id = ?",
                (status, error, now_ms(), job_id),
            )
            event = self._status_event(db, job_id)
            self._append_feed(db, job_id)
            return event

        event = await self._tx(_finish)
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

    async def cache_get(self, keyword: str, categories: tuple[str, ...]) -> dict[str, int]:
        def _get() -> dict[str, int]:
            rows = self.db.execute(
                "SELECT category, count FROM cache WHERE keyword = ? AND expires_at > ?",
                (keyword, now_ms()),
            ).fetchall()
            return {c: n for c, n in rows if c in categories}

        return await self._run(_get)

    async def cache_put(self, keyword: str, category: str, count: int) -> None:
        expires = now_ms() + int(self.settings.cache_ttl_s * 1000)

        def _put() -> None:
            self.db.execute(
                "INSERT OR REPLACE INTO cache (keyword, category, count, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (keyword, category, count, expires),
            )

        await self._run(_put)

    async def volume_cache_get(self, scope: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}

        def _get() -> dict[str, dict[str, Any]]:
            marks = ",".join("?" * len(keys))
            rows = self.db.execute(
                f"SELECT keyword, data FROM volume_cache WHERE scope = ? AND keyword IN ({marks}) "
                "AND expires_at > ?",
                (scope, *keys, now_ms()),
            ).fetchall()
            return {k: loads(d) for k, d in rows}

        return await self._run(_get)

    async def volume_cache_put(self, scope: str, rows: dict[str, dict[str, Any]]) -> None:
        if not rows:
            return
        expires = now_ms() + int(self.settings.volume_cache_ttl_s * 1000)

        def _put(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR REPLACE INTO volume_cache "
                "(scope, keyword, data, observed_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                [(scope, k, dumps(r), r["observedAt"], expires) for k, r in rows.items()],
            )

        await self._tx(_put)

    def limiter(self, rate_per_s: float) -> RateLimiter:
        limiter = self._limiters.get(rate_per_s)
        if limiter is None:
            limiter = self._limiters[rate_per_s] = LocalRateLimiter(rate_per_s)
        return limiter

    def key_registry(self) -> KeyRegistry:
        return self._keys

    # --- upkeep -------------------------------------------------------------------------

    async def cleanup(self, now: int) -> int:
        cutoff = now - int(self.settings.job_ttl_s * 1000)

        def _cleanup(db: sqlite3.Connection) -> list[str]:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM jobs WHERE status IN ('completed', 'failed', 'cancelled') "
                    "AND completed_at < ?",
                    (cutoff,),
                )
            ]
            for job_id in ids:
                db.execute("DELETE FROM results WHERE job_id = ?", (job_id,))
                db.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            db.execute(
                "DELETE FROM events WHERE job_id = ? AND created_at < ?", (JOBS_FEED, cutoff)
            )
            db.execute("DELETE FROM cache WHERE expires_at <= ?", (now,))
            db.execute("DELETE FROM volume_cache WHERE expires_at <= ?", (now,))
            db.execute(
                "DELETE FROM idempotency WHERE created_at <= ?", (now - IDEMPOTENCY_WINDOW_MS,)
            )
            return ids

        removed = await self._tx(_cleanup)
        self._json_cache.clear()
        # Signals left by waiters of these jobs (a reader that timed out, a worker's cancel
        # watch) would otherwise stay in the map for the life of the process.
        self._notify(*removed, *("cancel:" + job_id for job_id in removed))
        return len(removed)

    async def job_stats(self) -> dict[str, Any]:
        def _stats() -> dict[str, Any]:
            db = self.db
            by_status = dict(db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
            avg = db.execute(
                "SELECT AVG(completed_at - started_at) FROM jobs WHERE status = 'completed' "
                "AND started_at IS NOT NULL"
            ).fetchone()[0]
            return {
                "byStatus": {
                    s: by_status.get(s, 0) for s in (PENDING, PROCESSING, *sorted(TERMINAL))
                },
                "queueDepth": by_status.get(PENDING, 0),
                "avgJobMs": None if avg is None else round(avg),
            }

        return await self._run(_stats)
