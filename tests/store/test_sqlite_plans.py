"""Every statement the embedded store runs on a request path, at open, and in cleanup uses an
index on the tables that grow with use: no full scan of jobs, results, events or counts.

Each case drives one store operation with SQLite's trace callback on every connection, then
asks SQLite for the plan of each statement it ran (``EXPLAIN QUERY PLAN`` with the values it
ran with). A table not listed as small fails the test on a ``SCAN``, so a table added later
(history, quotas) is held to the same rule as soon as a case reaches its queries. An ordered
walk of an index that stops after ``LIMIT`` rows (the newest jobs) is allowed.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from server.api.daily import daily_stats
from server.model import COMPLETED, JOBS_FEED, JobSpec, new_job_id, now_ms
from server.settings import Settings
from server.store.sqlite import SqliteStore
from server.store.sqlite_stats import QUERIES
from server.store.stats_base import JOB_FAILURES, Bump, first_day

# Tables that hold one row per status, priority, client with queued jobs, or feed (and the
# schema): they do not grow with the number of jobs kept.
SMALL_TABLES = frozenset(
    {
        "feeds",
        "pending_by_priority",
        "queued_by_client",
        "jobs_by_status",
        "job_time",
        # one row per upstream key, or per worker process
        "key_retired",
        "workers",
        "sqlite_master",
        "sqlite_schema",
    }
)
SCAN = re.compile(r"^SCAN (\w+)( USING (COVERING )?INDEX \w+)?")
TERMINAL_LITERAL = re.compile(r"'(completed|failed|cancelled)'")
DML = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|REPLACE)\b", re.I)


def spec(n: int = 3, client: str = "c") -> JobSpec:
    created = now_ms()
    return JobSpec(
        id=new_job_id(created),
        keywords=tuple(f"k{i}" for i in range(n)),
        categories=("blog", "news"),
        priority=1,
        created_ms=created,
        source="demo",
        client=client,
    )


class Traced:
    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.statements: list[str] = []

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        self.statements = []
        conns = [self.store.db, self.store._reader, self.store._thread_reader]
        for conn in conns:
            assert conn is not None
            conn.set_trace_callback(self.statements.append)
        try:
            yield self.statements
        finally:
            for conn in conns:
                assert conn is not None
                conn.set_trace_callback(None)


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[Traced]:
    store = SqliteStore(f"sqlite:///{tmp_path}/plans.db", Settings(job_ttl_s=60.0))
    await store.open()
    # Some of everything, so the planner has real tables to plan over.
    for i in range(3):
        job = spec(2, client=f"c{i}")
        await store.create_job(job)
        claimed = await store.claim_next("w", 0)
        assert claimed is not None
        await store.record_result(claimed.id, 0, {"index": 0, "keyword": "k0"}, "w")
        await store.finish(claimed.id, COMPLETED, None, "w")
        await store.cache_put("naver", f"k{i}", "blog", i, now_ms())
    traced = Traced(store)
    yield traced
    await traced.store.close()


def bad_plans(db: sqlite3.Connection, statements: list[str]) -> list[str]:
    bad = []
    for sql in statements:
        if not DML.match(sql):
            continue  # BEGIN, COMMIT, PRAGMA, "-- TRIGGER name" lines
        for row in db.execute("EXPLAIN QUERY PLAN " + sql):
            # The status index is for the queue: a finished status holds every job kept.
            if TERMINAL_LITERAL.search(sql) and "INDEX jobs_queue" in row[-1]:
                bad.append(f"{row[-1]} (finished jobs by status)  <-  {sql}")
            m = SCAN.match(row[-1])
            if m is None or m.group(1) in SMALL_TABLES:
                continue
            if m.group(2) and re.search(r"\bLIMIT\b", sql, re.I):
                continue  # an index walked in order, stopping after LIMIT rows
            bad.append(f"{row[-1]}  <-  {sql}")
    return bad


Op = Callable[[SqliteStore], Awaitable[Any]]


async def running(store: SqliteStore) -> str:
    job = spec()
    await store.create_job(job)
    claimed = await store.claim_next("w", 0)
    assert claimed is not None and claimed.id == job.id
    await store.record_result(job.id, 0, {"index": 0, "keyword": "k0"}, "w")
    return job.id


async def pending(store: SqliteStore) -> str:
    job = spec()
    await store.create_job(job)
    return job.id


async def op_record(store: SqliteStore) -> None:
    job_id = await running(store)
    await store.record_result(job_id, 1, {"index": 1, "keyword": "k1"}, "w")
    await store.record_result(job_id, 1, {"index": 1, "keyword": "k1"}, "w")  # a repeat


async def op_cancel(store: SqliteStore) -> None:
    await store.request_cancel(await pending(store))
    job_id = await running(store)
    await store.request_cancel(job_id)
    await store.wait_cancel(job_id)


async def op_finish(store: SqliteStore) -> None:
    job_id = await running(store)
    await store.append_progress(job_id, {"ratePerSec": 1.0})
    await store.finish(job_id, COMPLETED, None, "w")


async def op_polls(store: SqliteStore) -> None:
    for job_id in (await running(store), await pending(store)):
        await store.get_job_json(job_id)
        await store.get_job(job_id)
        await store.get_job_json_since(job_id, "1")
        await store.get_job_json_since(job_id, "0")


async def op_events(store: SqliteStore) -> None:
    job_id = await running(store)
    await store.read_events(job_id, None)
    await store.read_events(job_id, "2")
    await store.last_event_id(job_id)
    await store.read_events(JOBS_FEED, "1")
    await store.last_event_id(JOBS_FEED)
    # A resume id the log no longer holds: the gap check.
    await store._tx(lambda db: db.execute("DELETE FROM events WHERE job_id = ?", (job_id,)))
    await store.read_events(job_id, "1")


async def op_submit(store: SqliteStore) -> None:
    await store.count_queued("c")
    await pending(store)
    await store.create_job(spec(), idempotency_key="same")
    await store.create_job(spec(), idempotency_key="same")
    await store.claim_next("w", 0)


async def op_lists(store: SqliteStore) -> None:
    await store.list_jobs(50)
    await store.job_stats()


async def op_cache(store: SqliteStore) -> None:
    await store.cache_put("naver", "맥북", "blog", 7, now_ms())
    await store.cache_get("naver", "맥북", ("blog", "news"))


async def op_daily_stats(store: SqliteStore) -> None:
    """/api/stats' daily figures and what keeps them: a read of the window, a key's call, the
    prune of the days before it. Only the day counters are read: no jobs, results or history."""
    today = store.stats.today()
    await store.key_registry().record_call("key-id", today)
    await store.stats.add([Bump(JOB_FAILURES, "config_error", 1)])
    await store.history.add("맥북", "blog", 7, "naver", now_ms())
    await daily_stats(store, store.settings)
    await store.stats.prune(first_day(today))


async def op_cleanup(store: SqliteStore) -> None:
    await store.create_job(spec(), idempotency_key="old")
    assert await store.cleanup(now_ms() + 3_600_000) == 3


OPS: dict[str, Op] = {
    "submit and claim": op_submit,
    "record result": op_record,
    "progress and finish": op_finish,
    "cancel": op_cancel,
    "status polls": op_polls,
    "event logs": op_events,
    "jobs list and stats": op_lists,
    "cache": op_cache,
    "cleanup": op_cleanup,
    "daily stats": op_daily_stats,
}


@pytest.mark.parametrize("name", list(OPS))
async def test_no_full_scan(traced: Traced, name: str) -> None:
    with traced.capture() as statements:
        await OPS[name](traced.store)
    assert statements, "nothing traced"
    assert bad_plans(traced.store.db, statements) == []


async def test_no_full_scan_at_open(traced: Traced, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that has the counters is opened without reading every job (a processing job
    left claimed by the dead process included)."""
    await running(traced.store)
    path = traced.store.path
    await traced.store.close()
    statements: list[str] = []
    connect = sqlite3.connect

    def tracing(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", tracing)
    again = traced.store = SqliteStore(f"sqlite:///{path}", Settings())
    await again.open()
    assert any("claimed_by = NULL" in s for s in statements)
    assert bad_plans(again.db, statements) == []
    assert await again.claim_next("w2", 0) is not None  # its claim was cleared


async def test_the_daily_stats_read_only_their_counters(traced: Traced) -> None:
    """Reading the figures costs a few index rows whatever the jobs, results and history kept:
    every statement of the read touches the day counters only, by their primary key."""
    with traced.capture() as statements:
        await daily_stats(traced.store, traced.store.settings)
    assert len(statements) == 2
    tables = {t for sql in statements for t in re.findall(r"\bFROM (\w+)", sql)}
    assert tables == {"stats_daily", "key_calls"}
    plans = [
        row[-1]
        for sql in statements
        for row in traced.store.db.execute("EXPLAIN QUERY PLAN " + sql)
    ]
    assert all(p.startswith("SEARCH") and "PRIMARY KEY" in p for p in plans), plans


def test_the_checker_sees_a_full_scan(tmp_path: Path) -> None:
    """The rule itself: the queries this file replaced would fail it."""
    db = sqlite3.connect(tmp_path / "old.db")
    db.executescript("CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT, claimed_by TEXT);")
    assert bad_plans(db, ["SELECT status, COUNT(*) FROM jobs GROUP BY status"])
    assert bad_plans(db, ["UPDATE jobs SET claimed_by = NULL WHERE claimed_by IS NOT NULL"])
    assert not bad_plans(db, ["SELECT status FROM jobs WHERE id = 'x'"])
    db.executescript("CREATE INDEX jobs_queue ON jobs (status); ALTER TABLE jobs ADD done INT;")
    db.executescript("CREATE INDEX jobs_completed ON jobs (done);")
    old_cleanup = (
        "SELECT id FROM jobs WHERE done < 5 AND status IN ('completed', 'failed') "
        "ORDER BY done LIMIT 300"
    )
    assert bad_plans(db, [old_cleanup])
    # The day counters without their primary key: the window read scans them.
    db.executescript("CREATE TABLE stats_daily (day INT, metric TEXT, dim TEXT, n INT);")
    assert bad_plans(db, [QUERIES["rows"].replace("?", "1")])
