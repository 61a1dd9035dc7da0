"""The keyword history's interface: observations kept past their jobs, by keyword and kind.

Both engines normalise the keyword (server.history.normalise) on the way in, so callers pass
keywords as users typed them.
"""

from __future__ import annotations

import abc
from typing import Any

from server.history import Observation


class HistoryStore(abc.ABC):
    @abc.abstractmethod
    async def add(
        self, keyword: str, kind: str, value: int, provider: str, observed_ms: int
    ) -> None:
        """Keep one fresh observation and make it the keyword's latest of its kind."""

    @abc.abstractmethod
    async def recent(
        self, keyword: str, kinds: tuple[str, ...], per_kind: int
    ) -> dict[str, list[Observation]]:
        """Up to ``per_kind`` newest observations of each kind, newest first."""

    @abc.abstractmethod
    async def series(
        self, keyword: str, kinds: tuple[str, ...] | None, from_ms: int, to_ms: int, limit: int
    ) -> list[Observation]:
        """Observations with ``from_ms <= observedAt <= to_ms``, oldest first (per kind, kinds
        in the order given; every kind when None), at most ``limit`` per kind (the newest)."""

    @abc.abstractmethod
    async def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        """Keywords ever counted that start with ``query`` (first, by keyword), then those
        that contain it; initial consonants (``ㅋㅍ``) match the keywords' initials. Each as
        ``{"keyword", "lastObservedAt", "latest": {kind: observation}}``."""

    @abc.abstractmethod
    async def prune(self, cutoff_ms: int, batch: int) -> int:
        """Delete up to ``batch`` observations older than ``cutoff_ms`` (and keywords not seen
        since). Returns how many observations went; call again while it returns ``batch``."""
