"""A job's upstream calls go in keyword order, on both stores. Results are committed in keyword
order, so a call served out of order holds back every result after its keyword: on Redis a
job's first lookups (which start together) reached the rate gate in the order their cache
reads came back, and a job's first results then arrived in bursts seconds apart
(server/work/shares.py now serves a job's waiting calls by keyword position)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import WORKER
from tests.support.common import base_settings


async def test_a_jobs_calls_go_in_keyword_order(
    store_url: str, tmp_path: Path, fake_naver: Any, make_client: Any
) -> None:
    fake, naver_url = fake_naver
    settings = replace(
        base_settings(tmp_path, naver_url),
        store_url=store_url,
        run_worker=False,
        rate_per_s=50.0,  # a turn every 20 ms: every lookup reaches the gate within the first
        keyword_concurrency=32,
    )
    client = await make_client(settings)
    keywords = [f"순서 {i:02d}" for i in range(24)]
    resp = await client.post(
        "/api/documents/batch", json={"keywords": keywords, "categories": ["blog"]}
    )
    job_id = (await resp.json())["jobId"]
    assert await client.app[WORKER].run_until_idle() == [job_id]
    called = [c.query for c in fake.calls]
    assert sorted(called) == keywords
    # The first call may be whichever lookup reached the free gate first; every later turn
    # goes to the lowest keyword waiting.
    rest = [c for c in called if c != called[0]]
    assert rest == [k for k in keywords if k != called[0]], called
