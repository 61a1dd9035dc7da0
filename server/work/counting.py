"""One keyword's counts across categories: cache first, then the provider, concurrently.

Shared by the worker and the single-keyword endpoint, so both go through the same limiter and
cache. Each count is cached the moment it arrives: a process killed before the keyword's result
is committed does not pay for that call again when the job resumes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from server.categories import CATEGORIES
from server.errors import StoreUnavailableError
from server.history import Observation, previous_of
from server.model import now_ms
from server.store.base import Store
from server.work.providers.base import FatalProviderError, KeywordError, Provider

log = logging.getLogger("doccount.history")


# KeywordError codes for a fault that may pass: the keyword is worth asking again later.
TRANSIENT_CODES = frozenset({"rate_limited", "upstream_unavailable"})


class TransientLookupError(Exception):
    """Some categories failed only with transient faults (after the provider's quick retries).
    ``result`` is what the keyword's result would be if these errors were final."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result["error"])
        self.result = result


class KeywordCounter:
    def __init__(self, store: Store, provider: Provider) -> None:
        self.store = store
        self.provider = provider

    async def _fetch(self, keyword: str, category: str) -> int:
        count = await self.provider.count(keyword, category)
        observed_ms = now_ms()
        await self.store.cache_put(self.provider.origin, keyword, category, count, observed_ms)
        try:
            await self.store.history.add(keyword, category, count, self.provider.name, observed_ms)
        except StoreUnavailableError as exc:
            # Like the cache: the count stands; only its place in the history is lost.
            log.warning("history write skipped, store unavailable (%s)", exc)
        return count

    async def _recent(
        self, keyword: str, categories: tuple[str, ...]
    ) -> dict[str, list[Observation]]:
        try:
            return await self.store.history.recent(keyword, categories, 2)
        except StoreUnavailableError as exc:
            log.warning("history read skipped, store unavailable (%s)", exc)
            return {}

    async def count(
        self, keyword: str, categories: tuple[str, ...], *, final: bool = True
    ) -> dict[str, Any]:
        """The result item of the contract (without ``index``). Raises FatalProviderError.
        With ``final=False``, errors that are all transient raise TransientLookupError instead
        of being reported: the caller asks again later (the counts that did arrive are cached,
        so asking again costs only the failed categories)."""
        cached = await self.store.cache_get(self.provider.origin, keyword, categories)
        # Read before this count's observations are stored: what it is compared with.
        recent = await self._recent(keyword, categories)
        missing = [c for c in categories if c not in cached]
        outcomes = await asyncio.gather(
            *(self._fetch(keyword, c) for c in missing), return_exceptions=True
        )
        fetched: dict[str, int] = {}
        errors: dict[str, str] = {}
        codes: dict[str, str] = {}  # the same failures by stable code, for machines (stats)
        transient = True
        for category, outcome in zip(missing, outcomes, strict=True):
            if isinstance(outcome, FatalProviderError):
                raise outcome
            if isinstance(outcome, KeywordError):
                errors[category] = str(outcome)
                codes[category] = outcome.code
                transient = transient and outcome.code in TRANSIENT_CODES
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                fetched[category] = outcome
        counts = {
            c: cached[c].total if c in cached else fetched[c] for c in categories if c not in errors
        }
        result: dict[str, Any] = {
            "keyword": keyword,
            "counts": counts,
            "source": self.provider.name,
            "cached": [c for c in categories if c in cached],
            "error": None,
            "previous": previous_of(recent, categories, {c: cached[c].observed_ms for c in cached}),
        }
        if cached:
            # When the upstream said each cached count (epoch ms): a cached number is as old as
            # this, not as old as the job.
            result["observedAt"] = {c: cached[c].observed_ms for c in categories if c in cached}
        if errors:
            result["errors"] = errors
            result["errorCodes"] = codes
            result["error"] = "; ".join(f"{CATEGORIES[c].label_ko}: {m}" for c, m in errors.items())
            if transient and not final:
                raise TransientLookupError(result)
        return result
