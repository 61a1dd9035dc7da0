"""Keyword history at scale: 1,000,000 observations in each store, then the p50/p99 of a
keyword's series and of a search (through the store's own history API, in this process), and
the bytes one observation costs (SQLite: the file; Redis: used_memory).

    python -m bench.history                 # both stores, 1,000,000 observations
    python -m bench.history --observations 100000 --stores sqlite

The data: 5,000 keywords (two- to four-syllable Korean words and phrases, as marketers type
them) x 4 categories x 50 observations (a weekly count for a year), loaded in bulk with the
same layout the store writes (SQLite: executemany in one transaction; Redis: pipelines).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from server.history import bigrams, initials
from server.settings import Settings
from server.store import Store, store_from_url
from server.store.redis_history import INITIALS, KEYWORDS, LAST, gram_key, latest_key, series_key
from tests.support.redis_server import start_on_a_free_port

KINDS = ("blog", "cafe", "news", "web")
SYLLABLES = "캠핑의자텐트맥북커피리뷰가방신발노트북여행제주도서울부산맛집카페추천할인후기가격비교"
T0 = 1_760_000_000_000
WEEK_MS = 7 * 86_400_000
QUERIES = 1000


def keywords(n: int, rng: random.Random) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.4:
            word += " " + "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        out.add(word)
    return sorted(out)


def load_sqlite(store: Any, words: list[str], per_series: int) -> None:
    db = store.db
    db.execute("BEGIN")
    for kid, word in enumerate(words, start=1):
        latest = {k: [1000 + kid, T0 + (per_series - 1) * WEEK_MS, "naver"] for k in KINDS}
        db.execute(
            "INSERT INTO keywords (id, keyword, initials, last_at, latest) VALUES (?, ?, ?, ?, ?)",
            (
                kid,
                word,
                initials(word),
                T0 + (per_series - 1) * WEEK_MS,
                json.dumps(latest),
            ),
        )
        db.executemany(
            "INSERT OR IGNORE INTO keyword_grams (gram, keyword_id) VALUES (?, ?)",
            [(g, kid) for g in bigrams(word)],
        )
    rows = (
        (kid, kind, T0 + i * WEEK_MS, 1000 + kid + i, "naver")
        for i in range(per_series)
        for kid in range(1, len(words) + 1)
        for kind in KINDS
    )
    db.executemany(
        "INSERT INTO observations (keyword_id, kind, observed_at, value, provider) "
        "VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def load_redis(store: Any, words: list[str], per_series: int) -> None:
    r = store._r
    for start in range(0, len(words), 200):
        async with r.pipeline(transaction=False) as pipe:
            for word in words[start : start + 200]:
                last = T0 + (per_series - 1) * WEEK_MS
                for kind in KINDS:
                    pipe.zadd(
                        series_key(word, kind),
                        {f"{T0 + i * WEEK_MS}:{1000 + i}:naver": T0 + i * WEEK_MS
                         for i in range(per_series)},
                    )  # fmt: skip
                    pipe.hset(latest_key(word), kind, f"{last}:{1000 + per_series}:naver")
                pipe.zadd(KEYWORDS, {word: 0})
                pipe.zadd(INITIALS, {f"{initials(word)}\t{word}": 0})
                pipe.zadd(LAST, {word: last})
                for g in bigrams(word):
                    pipe.zadd(gram_key(g), {word: 0})
            await pipe.execute()


def ms_stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


async def measure(store: Store, words: list[str], rng: random.Random) -> dict[str, Any]:
    series_s: list[float] = []
    points = 0
    for _ in range(QUERIES):
        word = rng.choice(words)
        t = time.perf_counter()
        got = await store.history.series(word, None, 0, 2**52, 5000)
        series_s.append(time.perf_counter() - t)
        points += len(got)
    search_s: list[float] = []
    found = 0
    for i in range(QUERIES):
        word = rng.choice(words)
        # a third each: a prefix, a piece from the middle (contains), the initials
        q = (word[:2], word[1:3], initials(word[:2]))[i % 3]
        t = time.perf_counter()
        found += len(await store.history.search(q, 20))
        search_s.append(time.perf_counter() - t)
    s50, s99 = ms_stats(series_s)
    q50, q99 = ms_stats(search_s)
    return {
        "series_p50_ms": s50,
        "series_p99_ms": s99,
        "points_per_series": points / QUERIES,
        "search_p50_ms": q50,
        "search_p99_ms": q99,
        "found_per_search": found / QUERIES,
    }


async def run(kind: str, observations: int) -> dict[str, Any]:
    rng = random.Random(14)
    per_series = 50
    words = keywords(max(1, observations // (per_series * len(KINDS))), rng)
    total = len(words) * len(KINDS) * per_series
    with tempfile.TemporaryDirectory(prefix="doccount-bench-history-") as tmp:
        server = None
        if kind == "sqlite":
            url = f"sqlite:///{tmp}/history.db"
        else:
            server = start_on_a_free_port(Path(tmp))
            url = server.url
        store = store_from_url(url, Settings(store_url=url))
        await store.open()
        try:
            before = 0
            if kind == "redis":
                before = int((await store._r.info("memory"))["used_memory"])  # type: ignore[attr-defined]
            t = time.perf_counter()
            if kind == "sqlite":
                await store._run(load_sqlite, store, words, per_series)  # type: ignore[attr-defined]
            else:
                await load_redis(store, words, per_series)
            load_s = time.perf_counter() - t
            if kind == "sqlite":
                size = os.path.getsize(f"{tmp}/history.db")
            else:
                after = int((await store._r.info("memory"))["used_memory"])  # type: ignore[attr-defined]
                size = after - before
            figures = await measure(store, words, rng)
        finally:
            await store.close()
            if server is not None:
                server.kill()
    return {
        "store": kind,
        "observations": total,
        "keywords": len(words),
        "load_s": load_s,
        "bytes_per_observation": size / total,
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,redis")
    args = parser.parse_args()
    for kind in args.stores.split(","):
        r = asyncio.run(run(kind, args.observations))
        print(
            f"{r['store']}: {r['observations']:,} observations ({r['keywords']:,} keywords), "
            f"loaded in {r['load_s']:.1f} s; {r['bytes_per_observation']:.1f} bytes/observation; "
            f"series ({r['points_per_series']:.0f} points) p50 {r['series_p50_ms']:.2f} ms "
            f"p99 {r['series_p99_ms']:.2f} ms; search ({r['found_per_search']:.1f} found) "
            f"p50 {r['search_p50_ms']:.2f} ms p99 {r['search_p99_ms']:.2f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
