"""Keyword history in the distributed store.

Keys (prefix ``dc:h:``; a keyword never holds a tab, white space is folded to single spaces):

    dc:h:s:{keyword}\\t{kind}  zset: one series, score = observed ms, member "ms:value:provider";
                              trimmed on each write to ``--history-days`` and SERIES_MAX entries
    dc:h:latest:{keyword}     hash: kind -> "ms:value:provider", the newest of each kind
    dc:h:kw                   zset, all scores 0: every keyword, for prefix search (BYLEX)
    dc:h:init                 zset, all scores 0: "initials\\tkeyword", for ㅋㅍ-style search
    dc:h:g:{two characters}   zset, all scores 0: keywords holding that piece (contains search)
    dc:h:last                 zset: keyword -> last observed ms, for pruning

Memory per observation: one series entry (listpack up to Redis's zset-max-listpack-entries,
then a skiplist node); bench/history.py measures it with MEMORY USAGE.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from server.errors import StoreUnavailableError
from server.history import (
    CONTAINS_CANDIDATES_MAX,
    Observation,
    bigrams,
    initials,
    is_initials_query,
    normalise,
)
from server.store.history_base import HistoryStore
from server.store.redis_limits import is_unavailable

H = "dc:h:"
KEYWORDS = H + "kw"
INITIALS = H + "init"
LAST = H + "last"
CONTAINS_CHUNK = 200
# A series keeps at most this many observations (13 years of daily counts).
SERIES_MAX = 5000
ADD = resources.files("server.store.lua").joinpath("history_add.lua").read_text(encoding="utf-8")


@contextlib.contextmanager
def unavailable() -> Iterator[None]:
    """Connection faults leave as StoreUnavailableError (503 ``store_unavailable``)."""
    try:
        yield
    except Exception as exc:
        if is_unavailable(exc):
            raise StoreUnavailableError(f"Redis unavailable: {exc}") from exc
        raise


def series_key(keyword: str, kind: str) -> str:
    return f"{H}s:{keyword}\t{kind}"


def latest_key(keyword: str) -> str:
    return f"{H}latest:{keyword}"


def gram_key(gram: str) -> str:
    return f"{H}g:{gram}"


def parse_entry(kind: str, entry: str) -> Observation:
    ms, value, provider = entry.split(":", 2)
    return Observation(kind, int(value), provider, int(ms))


def prefix_range(q: str) -> tuple[bytes, bytes]:
    """BYLEX bounds of every member starting with ``q`` (0xff follows any UTF-8 byte)."""
    raw = q.encode()
    return b"[" + raw, b"(" + raw + b"\xff"


class RedisHistory(HistoryStore):
    def __init__(self, r: aioredis.Redis, history_days: float) -> None:
        # redis-py's annotations cover bytes and str replies alike; this client decodes.
        self._r: Any = r
        self._script = r.register_script(ADD)
        self._keep_ms = round(history_days * 86_400_000)

    async def _add_impl(
        self, keyword: str, kind: str, value: int, provider: str, observed_ms: int
    ) -> None:
        key = normalise(keyword)
        cutoff = observed_ms - self._keep_ms if self._keep_ms > 0 else 0
        keys = [series_key(key, kind), latest_key(key), KEYWORDS, INITIALS, LAST]
        keys += [gram_key(g) for g in sorted(bigrams(key))]
        args: list[str | int] = [key, kind, observed_ms, value, provider]
        args += [f"{initials(key)}\t{key}", cutoff, SERIES_MAX]
        await self._script(keys=keys, args=args)

    async def _recent_impl(
        self, keyword: str, kinds: tuple[str, ...], per_kind: int
    ) -> dict[str, list[Observation]]:
        key = normalise(keyword)
        async with self._r.pipeline(transaction=False) as pipe:
            for kind in kinds:
                pipe.zrevrange(series_key(key, kind), 0, per_kind - 1)
            rows = await pipe.execute()
        return {
            kind: [parse_entry(kind, e) for e in entries]
            for kind, entries in zip(kinds, rows, strict=True)
            if entries
        }

    async def _series_impl(
        self, keyword: str, kinds: tuple[str, ...] | None, from_ms: int, to_ms: int, limit: int
    ) -> list[Observation]:
        key = normalise(keyword)
        wanted = kinds
        if wanted is None:
            wanted = tuple(sorted(await self._r.hkeys(latest_key(key))))
        async with self._r.pipeline(transaction=False) as pipe:
            for kind in wanted:
                pipe.zrevrangebyscore(series_key(key, kind), to_ms, from_ms, start=0, num=limit)
            rows = await pipe.execute()
        out: list[Observation] = []
        for kind, entries in zip(wanted, rows, strict=True):
            out.extend(parse_entry(kind, e) for e in reversed(entries))
        return out

    async def _search_impl(self, query: str, limit: int) -> list[dict[str, Any]]:
        q = normalise(query)
        if not q:
            return []
        low, high = prefix_range(q)
        if is_initials_query(q):
            members = await self._r.zrange(INITIALS, low, high, bylex=True, offset=0, num=limit)
            keywords = [m.partition("\t")[2] for m in members]
        else:
            keywords = await self._r.zrange(KEYWORDS, low, high, bylex=True, offset=0, num=limit)
            if len(keywords) < limit and len(q) >= 2:
                keywords += await self._contains(q, limit - len(keywords))
        async with self._r.pipeline(transaction=False) as pipe:
            for k in keywords:
                pipe.hgetall(latest_key(k))
                pipe.zscore(LAST, k)
            rows = await pipe.execute()
        out = []
        for i, k in enumerate(keywords):
            latest, last = rows[2 * i], rows[2 * i + 1]
            out.append(
                {
                    "keyword": k,
                    "lastObservedAt": None if last is None else int(last),
                    "latest": {
                        kind: {
                            key: val
                            for key, val in parse_entry(kind, e).as_json().items()
                            if key != "kind"
                        }
                        for kind, e in sorted(latest.items())
                    },
                }
            )
        return out

    async def _contains(self, q: str, wanted: int) -> list[str]:
        """Keywords containing ``q`` but not starting with it: read in chunks from the set of
        ``q``'s rarest two-character piece, at most CONTAINS_CANDIDATES_MAX members in all."""
        grams = sorted(bigrams(q))
        async with self._r.pipeline(transaction=False) as pipe:
            for g in grams:
                pipe.zcard(gram_key(g))
            sizes = await pipe.execute()
        rarest = gram_key(min(zip(sizes, grams, strict=True))[1])
        out: list[str] = []
        for start in range(0, CONTAINS_CANDIDATES_MAX, CONTAINS_CHUNK):
            chunk = await self._r.zrange(rarest, start, start + CONTAINS_CHUNK - 1)
            out += [k for k in chunk if q in k and not k.startswith(q)]
            if len(out) >= wanted or len(chunk) < CONTAINS_CHUNK:
                break
        return out[:wanted]

    async def _prune_impl(self, cutoff_ms: int, batch: int) -> int:
        stale: list[str] = await self._r.zrangebyscore(
            LAST, "-inf", f"({cutoff_ms}", start=0, num=batch
        )
        removed = 0
        for key in stale:
            kinds = await self._r.hkeys(latest_key(key))
            async with self._r.pipeline(transaction=True) as pipe:
                for kind in kinds:
                    pipe.zcard(series_key(key, kind))
                pipe.delete(latest_key(key), *(series_key(key, k) for k in kinds))
                pipe.zrem(KEYWORDS, key)
                pipe.zrem(INITIALS, f"{initials(key)}\t{key}")
                pipe.zrem(LAST, key)
                for gram in bigrams(key):
                    pipe.zrem(gram_key(gram), key)
                counts = await pipe.execute()
            removed += sum(int(n) for n in counts[: len(kinds)])
        return removed

    # Every entry point, with connection faults as StoreUnavailableError.
    async def add(
        self, keyword: str, kind: str, value: int, provider: str, observed_ms: int
    ) -> None:
        with unavailable():
            await self._add_impl(keyword, kind, value, provider, observed_ms)

    async def recent(
        self, keyword: str, kinds: tuple[str, ...], per_kind: int
    ) -> dict[str, list[Observation]]:
        with unavailable():
            return await self._recent_impl(keyword, kinds, per_kind)

    async def series(
        self, keyword: str, kinds: tuple[str, ...] | None, from_ms: int, to_ms: int, limit: int
    ) -> list[Observation]:
        with unavailable():
            return await self._series_impl(keyword, kinds, from_ms, to_ms, limit)

    async def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        with unavailable():
            return await self._search_impl(query, limit)

    async def prune(self, cutoff_ms: int, batch: int) -> int:
        with unavailable():
            return await self._prune_impl(cutoff_ms, batch)
