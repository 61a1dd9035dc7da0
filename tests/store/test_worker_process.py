"""`doccount worker` builds the counting corridor alone: store, provider, counter, worker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.work.runtime import open_store, run_worker
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import fake_total
from tests.support.streams import create_job


async def test_the_worker_process_counts_a_job_and_stops(
    store_url: str, tmp_path: Path, fake_naver: Any
) -> None:
    fake, naver_url = fake_naver
    settings = replace(base_settings(tmp_path, naver_url), store_url=store_url)
    stop = asyncio.Event()
    async with open_store(settings) as store:
        job_id = await create_job(store, ["맥북", "아이폰"])
        running = asyncio.create_task(run_worker(settings, stop))

        async def completed() -> bool:
            job = await store.get_job(job_id)
            return job is not None and job["status"] == "completed"

        await wait_until(completed, timeout_s=30)
        job = await store.get_job(job_id)
        assert job is not None
        assert [r["keyword"] for r in job["results"]] == ["맥북", "아이폰"]
        assert [r["counts"] for r in job["results"]] == [
            {"blog": fake_total("맥북", "blog")},
            {"blog": fake_total("아이폰", "blog")},
        ]
        assert len(fake.calls) == 2
        stop.set()
        await asyncio.wait_for(running, timeout=10)


def test_the_worker_process_loads_no_web_app() -> None:
    """What `doccount worker` imports: no routes, hub, SSE or WebSocket modules."""
    code = (
        "import sys, server.cli, server.work.runtime; "
        "print(sorted(m for m in sys.modules if m.startswith(('server.api', 'server.live'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
