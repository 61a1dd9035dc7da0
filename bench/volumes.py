"""A job with monthly search volumes: makespan against the bound of its two upstreams.

Counts: N keywords × C categories calls at R calls/s (one key), bound N·C / R. Volumes: the
Search Ad keyword tool takes 5 keywords a call at A calls/s, bound ceil(N / 5) / A. The two run
side by side (a volume may land before or after its keyword's counts; the job ends when both
are done), so the job cannot finish before max(counts bound, volume bound), and should not take
much longer. Both fakes answer from one process (tests.support.fakeupstream, 50 ms latency); the
server is a separate process with its own store. The Search Ad fake's call log proves batching:
ceil(N / 5) calls, none with a space, and every result carries its volume.
"""

from __future__ import annotations

import math
import time

import aiohttp

from .common import Procs, Row, Section
from .stack import (
    get_job,
    redis_store_available,
    start_server,
    start_store,
    start_upstream,
    submit,
    wait_done,
)

CATEGORIES = ["blog", "cafe", "news", "web"]
LATENCY_MS = 50.0
HINTS_PER_CALL = 5
# What the fake Search Ad upstream accepts (tests/support/fakesearchad.py).
AD_ENV = {
    "NAVER_AD_CUSTOMER_ID": "1234567",
    "NAVER_AD_ACCESS_LICENSE": "fake-access-license",
    "NAVER_AD_SECRET_KEY": "fake-secret-key",
}


async def one_job(
    section: Section,
    *,
    store: str,
    keywords: int,
    rate: float,
    ad_rate: float | None,
    case: str,
    uvloop: bool,
) -> None:
    """``ad_rate`` None: the same job with volumes off, the control."""
    with Procs(section) as procs:
        upstream = await start_upstream(procs, LATENCY_MS, keys=1)
        store_url, db_path = await start_store(procs, store, "volumes")
        server = await start_server(
            procs,
            store_url=store_url,
            upstream=upstream,
            keys=1,
            rate=rate,
            keyword_concurrency=64,
            uvloop=uvloop,
            db_path=db_path,
            env_extra=None
            if ad_rate is None
            else {**AD_ENV, "NAVER_AD_API_BASE": upstream.ad_base},
            extra=["--volume-provider", "off"]
            if ad_rate is None
            else ["--ad-rate", f"{ad_rate:g}"],
        )
        counts_bound_s = keywords * len(CATEGORIES) / rate
        ad_calls_expected = 0 if ad_rate is None else math.ceil(keywords / HINTS_PER_CALL)
        volume_bound_s = 0.0 if ad_rate is None else ad_calls_expected / ad_rate
        bound_s = max(counts_bound_s, volume_bound_s)
        stamp = time.time_ns()
        words = [f"vol {store} {i} {stamp}" for i in range(keywords)]
        async with aiohttp.ClientSession() as http:
            job_id = await submit(http, server, words, CATEGORIES)
            summary = await wait_done(http, server, job_id, timeout_s=bound_s * 3 + 30)
            job = await get_job(http, server, job_id)
        makespan_s = (summary["completedAt"] - summary["createdAt"]) / 1000
        ratio = makespan_s / bound_s
        ad_log = await upstream.ad_calls()
        with_volume = sum(1 for r in job["results"] if r.get("searchVolume") is not None)
        spaced = sum(1 for c in ad_log for h in c["hints"] if " " in h)
        section.add(
            Row(
                case,
                "makespan",
                makespan_s,
                "s",
                goal=f"bound max({counts_bound_s:.1f}, {volume_bound_s:.1f}) = {bound_s:.1f} s",
                better="lower",
                note=f"{ratio:.3f}× bound; status {summary['status']}",
            )
        )
        section.add(
            Row(
                case,
                "Search Ad calls / keywords with a volume",
                len(ad_log),
                "calls",
                note=f"{ad_calls_expected} expected (ceil({keywords}/5)); hints with a space "
                f"{spaced}; results with searchVolume {with_volume}/{keywords}",
                met=len(ad_log) == ad_calls_expected
                and spaced == 0
                and with_volume == (0 if ad_rate is None else keywords),
            )
        )


async def run(section: Section, *, quick: bool, uvloop: bool) -> None:
    n = 100 if quick else 1000
    stores = ["sqlite"] + (["redis"] if redis_store_available() else [])
    # Counts-bound (volumes come first, results committed with them), balanced, and
    # volume-bound (counts first, volumes arrive after: the update path).
    # The control (volumes off) runs beside them, so a loaded machine shows in both.
    cases: list[tuple[float, float | None]] = [
        (200.0, None),
        (200.0, 20.0),
        (200.0, 10.0),
        (400.0, 5.0),
    ]
    if quick:  # the control and the volume-bound case only
        cases = [cases[0], cases[-1]]
    for store in stores:
        for rate, ad_rate in cases:
            await one_job(
                section,
                store=store,
                keywords=n,
                rate=rate,
                ad_rate=ad_rate,
                case=f"{n} kw × 4 cat, R={rate:g}/s, "
                + ("volumes off" if ad_rate is None else f"Search Ad {ad_rate:g}/s")
                + f", {store}",
                uvloop=uvloop,
            )
    section.notes.append(
        "At the defaults (10 calls/s per search key, 2 Search Ad calls/s) a 1,000-keyword job "
        "is bounded by its counts (400 s for 4 categories on one key) and its volumes take "
        "100 s beside them: volumes add nothing to the makespan unless 4+ keys are pooled."
    )
