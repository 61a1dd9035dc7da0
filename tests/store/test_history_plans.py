"""Every request-path statement of the SQLite keyword history reads through an index: a series
or a search costs the same with a million observations as with ten (bench/history.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server.store.sqlite import SCHEMA
from server.store.sqlite_history import QUERIES

# What each statement must use: a table read through anything else is a full scan.
EXPECTED = {
    "keyword_id": "sqlite_autoindex_keywords_1",
    "recent": "observations_series",
    "series": "observations_series",
    "kinds": "INTEGER PRIMARY KEY",
    "prefix": "sqlite_autoindex_keywords_1",
    "initials": "keywords_initials",
    "contains": "keyword_grams USING PRIMARY KEY",
}


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "plan.db")
    conn.executescript(SCHEMA)
    return conn


def plan(db: sqlite3.Connection, sql: str) -> list[str]:
    return [row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, (1,) * sql.count("?"))]


def test_every_request_path_query_is_listed() -> None:
    assert set(QUERIES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_query_uses_its_index(db: sqlite3.Connection, name: str) -> None:
    steps = plan(db, QUERIES[name])
    assert any(EXPECTED[name] in step for step in steps), steps
    # No table is read whole (the contains search scans only its bounded candidate list "g").
    assert not [s for s in steps if s.startswith("SCAN ") and s != "SCAN g"], steps
    # Matches come out of the index in order: no sort of every match before the LIMIT.
    if name in ("prefix", "initials", "series", "recent"):
        assert not [s for s in steps if "TEMP B-TREE" in s], steps
