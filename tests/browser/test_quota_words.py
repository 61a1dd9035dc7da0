"""Issue 14 on the dashboard, in Chromium: a job paused until the daily quota resets says so in
words, with the time it resumes (KST), instead of a rate and an ETA.

The pause itself (the worker over a fake midnight) is tested in tests/api/test_quota_pause.py;
here a stand-in worker holds the job and beats as a paused one does."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import STORE
from server.kst import format_kst, next_kst_midnight_ms
from server.model import now_ms
from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    WAIT_MS,
    Dash,
    browser,
    dash,
    expect,
    start_job,
    unique_keywords,
)
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver

RESET_MS = 1714575600000  # 2024-05-02 00:00 KST


async def test_a_job_waiting_for_the_quota_says_until_when(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    make_client: Any,
    dash: Dash,  # noqa: F811
) -> None:
    settings = replace(base_settings(tmp_path, fake_naver[1]), run_worker=False, health_watch_s=0.2)
    client = await make_client(settings)
    store = client.app[STORE]
    page = await dash.page(str(client.make_url("/")))
    job_id = await start_job(page, unique_keywords(2), ["blog"])
    claimed = await store.claim_next("w-paused", 0)
    assert claimed is not None and claimed.id == job_id

    async def beat() -> None:
        while True:
            await store.heartbeat("w-paused", [job_id], now_ms(), quota_waits={job_id: RESET_MS})
            await asyncio.sleep(0.5)  # a heartbeat's own period, not a wait for a result

    beating = asyncio.create_task(beat())
    try:
        await expect(page.locator("#progress-eta")).to_have_text(
            "일일 호출 한도 소진 · 2024-05-02 00:00 KST에 자동으로 재개합니다", timeout=WAIT_MS
        )
        await expect(page.locator("#progress-rate")).to_have_text("")
        await expect(page.locator("#job-status")).to_have_text("진행 중")
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def test_a_job_submitted_with_every_key_spent_is_taken_and_says_when(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    make_client: Any,
    dash: Dash,  # noqa: F811
) -> None:
    """Every key spent for today: the banner says jobs are taken (not refused), the submit's
    toast says when they run, and the job waits for the reset in words (a real worker)."""
    fake, base = fake_naver
    client = await make_client(replace(base_settings(tmp_path, base), health_watch_s=0.2))
    midnight_ms = next_kst_midnight_ms(now_ms())
    await (
        client.app[STORE]
        .key_registry()
        .retire("test-id", midnight_ms, "daily quota exceeded (HTTP 429 010)")
    )
    at = format_kst(midnight_ms)
    page = await dash.page(str(client.make_url("/")))
    banner = page.locator("#key-banner")
    await expect(banner).to_have_text(
        "모든 네이버 API 키의 오늘 호출 한도가 소진되었습니다. "
        f"새 작업은 접수되어 {at}에 한도가 초기화되면 조회합니다.",
        timeout=WAIT_MS,
    )
    await start_job(page, unique_keywords(2), ["blog"])
    await expect(page.locator("#toast")).to_have_text(
        f"배치 작업이 접수되었습니다: 모든 API 키의 오늘 호출 한도가 소진되어 {at}에 "
        "한도가 초기화되면 조회합니다",
        timeout=WAIT_MS,
    )
    await expect(page.locator("#progress-eta")).to_have_text(
        f"일일 호출 한도 소진 · {at}에 자동으로 재개합니다", timeout=WAIT_MS
    )
    await expect(page.locator("#job-status")).to_have_text("진행 중")
    assert fake.calls == []
