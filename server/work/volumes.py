"""Search volumes for a batch: cache first, then the volume source, five hints per call.

Naver matches hint keywords without spaces and upper-cases Latin letters, so everything here
is keyed by ``normalise(keyword)``: two keywords that differ only in spacing share one row.
A row fetched is cached the moment it arrives (with its origin and time), so a job that
is resumed or repeated within a day pays nothing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from server import history
from server.errors import StoreUnavailableError
from server.model import now_ms
from server.store.base import Store
from server.work.providers.base import KeywordError
from server.work.providers.searchad import MAX_HINTS
from server.work.providers.volume_base import VolumeAuthError, VolumeProvider, VolumeRow, normalise

# Calls in flight at once: the limiter paces them; this only keeps latency from bounding
# throughput (2 calls/s at 300 ms each needs at least one call in flight at a time).
CALLS_IN_FLIGHT = 4

NOT_FOUND = "검색광고 API 응답에 이 키워드의 검색량이 없습니다"
HAS_COMMA = "쉼표가 들어간 키워드는 검색량을 조회할 수 없습니다"

log = logging.getLogger("doccount.history")


@dataclass(frozen=True, slots=True)
class VolumeOutcome:
    """A keyword's volume, or why there is none."""

    row: VolumeRow | None
    error: str | None = None


def ratio_of(counts: dict[str, int], row: VolumeRow | None) -> dict[str, float] | None:
    """경쟁률 per category: documents / monthly searches (PC + mobile). None when unknown;
    a "< 10" part counts as 10 (the row's ``totalBelow`` says so)."""
    if row is None or not row.get("total"):
        return None
    total = row["total"]
    return {c: round(n / total, 2) for c, n in counts.items()}


def attach(result: dict[str, Any], outcome: VolumeOutcome | None) -> dict[str, Any]:
    """``result`` with ``searchVolume`` and ``ratio`` set from ``outcome`` (None: unknown yet,
    or no volume source), and the reason in ``errors.searchVolume`` when there is none."""
    out = dict(result)
    row = outcome.row if outcome is not None else None
    out["searchVolume"] = row
    out["ratio"] = ratio_of(out["counts"], row)
    errors = dict(out.get("errors") or {})
    errors.pop("searchVolume", None)
    if outcome is not None and outcome.error is not None:
        errors["searchVolume"] = outcome.error
    if errors:
        out["errors"] = errors
    else:
        out.pop("errors", None)
    return out


class VolumeLookup:
    def __init__(self, store: Store, provider: VolumeProvider) -> None:
        self.store = store
        self.provider = provider

    @property
    def name(self) -> str:
        return self.provider.name

    async def _cached(self, keys: list[str]) -> dict[str, VolumeRow]:
        cached = await self.store.volume_cache_get(self.provider.origin, keys)
        return {k: {**row, "cached": True} for k, row in cached.items()}

    async def _fetch(self, batch: list[str]) -> tuple[dict[str, VolumeOutcome], list[VolumeRow]]:
        """One call: outcomes for ``batch`` and every row it answered (related ones too)."""
        answered = await self.provider.lookup(batch)
        observed = now_ms()
        rows: dict[str, VolumeRow] = {}
        related: list[VolumeRow] = []
        for rel_keyword, row in answered:
            key = normalise(rel_keyword)
            full = {**row, "observedAt": observed}
            if key in batch and key not in rows:
                rows[key] = full
            related.append({"keyword": rel_keyword, **full})
        await self.store.volume_cache_put(self.provider.origin, rows)
        outcomes = {
            k: VolumeOutcome({**rows[k], "cached": False})
            if k in rows
            else VolumeOutcome(None, NOT_FOUND)
            for k in batch
        }
        return outcomes, related

    async def _remember(
        self, outcomes: dict[str, VolumeOutcome], typed: dict[str, set[str]]
    ) -> None:
        """Fresh volumes go into the keyword history (volumePc/volumeMobile/volumeTotal), under
        each keyword as the job has it: 캠핑 의자 and 캠핑의자 share a row but not a history."""
        for key, outcome in outcomes.items():
            row = outcome.row
            if row is None or row.get("cached"):
                continue
            for keyword in sorted(typed.get(key, ())):
                for kind, value in history.volume_observations(row):
                    try:
                        await self.store.history.add(
                            keyword, kind, value, self.provider.name, row["observedAt"]
                        )
                    except StoreUnavailableError as exc:
                        # Like the counts: the volume stands; only its place in the history is lost.
                        log.warning("history write skipped, store unavailable (%s)", exc)
                        return

    async def stream(self, keywords: list[str]) -> AsyncIterator[dict[str, VolumeOutcome]]:
        """Outcomes by normalised keyword, as they arrive (cached first). Every distinct
        keyword gets exactly one outcome. A refused credential (403) ends the stream with the
        same error for every keyword still without one. Fresh volumes are kept in the history."""
        typed: dict[str, set[str]] = {}
        for k in keywords:
            typed.setdefault(normalise(k), set()).add(history.normalise(k))
        keys = list(typed)
        bad = {k: VolumeOutcome(None, HAS_COMMA) for k in keys if "," in k}
        if bad:
            yield bad
        keys = [k for k in keys if k not in bad]
        cached = await self._cached(keys)
        if cached:
            yield {k: VolumeOutcome(row) for k, row in cached.items()}
        missing = [k for k in keys if k not in cached]
        batches = [missing[i : i + MAX_HINTS] for i in range(0, len(missing), MAX_HINTS)]
        if not batches:
            return
        done: asyncio.Queue[tuple[list[str], BaseException | dict[str, VolumeOutcome]]]
        done = asyncio.Queue()
        gate = asyncio.Semaphore(CALLS_IN_FLIGHT)

        async def one(batch: list[str]) -> None:
            async with gate:
                try:
                    outcomes, _ = await self._fetch(batch)
                    await self._remember(outcomes, typed)
                    done.put_nowait((batch, outcomes))
                except Exception as exc:
                    done.put_nowait((batch, exc))

        tasks = [asyncio.create_task(one(b)) for b in batches]
        try:
            pending = {k for b in batches for k in b}
            while pending:
                batch, got = await done.get()
                if isinstance(got, VolumeAuthError):
                    for task in tasks:
                        task.cancel()
                    yield {k: VolumeOutcome(None, str(got)) for k in pending}
                    return
                if isinstance(got, KeywordError):
                    got = {k: VolumeOutcome(None, str(got)) for k in batch}
                elif isinstance(got, BaseException):
                    raise got
                pending.difference_update(batch)
                yield got
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def related(self, keywords: list[str], limit: int) -> list[VolumeRow]:
        """Related keywords of ``keywords`` with their volumes, by total volume, largest
        first; the hints themselves excluded. Raises VolumeAuthError or KeywordError."""
        keys = list(dict.fromkeys(normalise(k) for k in keywords if "," not in k))
        batches = [keys[i : i + MAX_HINTS] for i in range(0, len(keys), MAX_HINTS)]
        found: dict[str, VolumeRow] = {}
        for outcome in await asyncio.gather(*(self._fetch(b) for b in batches)):
            for row in outcome[1]:
                key = normalise(row["keyword"])
                if key not in keys and key not in found:
                    found[key] = row
        ranked = sorted(found.values(), key=lambda r: (-r["total"], r["keyword"]))
        return ranked[:limit]
