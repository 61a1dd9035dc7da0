"""The watchlists' interface: stored as plain dicts (camelCase, as the API shows them)."""

from __future__ import annotations

import abc
from typing import Any


class WatchStore(abc.ABC):
    @abc.abstractmethod
    async def create(self, watchlist: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def get(self, watchlist_id: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def list(self) -> list[dict[str, Any]]:
        """Every watchlist, oldest first."""

    @abc.abstractmethod
    async def update(self, watchlist_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Set ``fields`` (others untouched, atomically); the watchlist after, or None."""

    @abc.abstractmethod
    async def delete(self, watchlist_id: str) -> bool: ...

    @abc.abstractmethod
    async def claim_run(self, watchlist_id: str, due_ms: int) -> bool:
        """True for exactly one caller per (watchlist, due time), across every node and
        restart: the scheduler creates that run's job only then."""
