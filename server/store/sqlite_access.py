"""What the SQLite engine's side tables (history, watchlists, webhooks) use of it: its
connection and its writer thread. A protocol, so those modules need not import the engine
(which imports them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class SqliteAccess(Protocol):
    @property
    def db(self) -> sqlite3.Connection: ...

    async def _run(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...
