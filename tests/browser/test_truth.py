"""Issue 11 on the dashboard, in Chromium: a completed job with failed keywords is not shown as a
clean success and can be retried; no usable key is a banner; a job nobody counts says so in
words; duplicates are fetched once; the stats follow the jobs feed; no cheerful toast beside a
failure."""

from __future__ import annotations

import time

from server.settings import NaverKey
from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    WAIT_MS,
    Dash,
    Serve,
    browser,
    dash,
    expect,
    serve,
    start_job,
    unique_keywords,
    wait_status,
)
from tests.support.fakeupstream import FakeNaver


async def test_completed_with_errors_is_a_warning_and_the_failed_keywords_retry(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_naver: tuple[FakeNaver, str],
) -> None:
    fake, _ = fake_naver
    base = await serve(retry_attempts=0)
    page = await dash.page(base)
    keywords = unique_keywords(4)
    for keyword in keywords[1:3]:
        fake.add_fault("500", query=keyword, api="blog")
    await start_job(page, keywords, ["blog"])
    await wait_status(page, "완료 (오류 2)")
    badge = page.locator("#job-status")
    assert await badge.get_attribute("class") == "badge badge-completed-errors"
    listed = page.locator("#job-list .badge").first
    await expect(listed).to_have_text("완료 (오류 2)")
    retry = page.locator("#retry-failed")
    await expect(retry).to_have_text("실패한 키워드 다시 조회")
    calls_before = len(fake.calls)
    await retry.click()
    await wait_status(page, "완료")  # the new job: the two failed keywords, counted now
    await expect(page.locator("#progress-count")).to_have_text("2 / 2")
    await expect(retry).to_be_hidden()
    assert sorted(c.query for c in fake.calls[calls_before:]) == sorted(keywords[1:3])


async def test_no_usable_key_is_a_banner(serve: Serve, dash: Dash) -> None:  # noqa: F811
    base = await serve(check_keys=True, naver_keys=(NaverKey("bad-key", "wrong"),))
    page = await dash.page(base)
    banner = page.locator("#key-banner")
    await expect(banner).to_be_visible(timeout=WAIT_MS)
    text = await banner.inner_text()
    assert text.startswith("사용 가능한 네이버 API 키가 없습니다. 새 작업을 시작할 수 없습니다")
    assert "bad-…" in text and "auth failed (HTTP 401 024)" in text
    assert "bad-key" not in text  # the label, never the id


async def test_a_job_with_no_worker_says_so_instead_of_soon(serve: Serve, dash: Dash) -> None:  # noqa: F811
    base = await serve(run_worker=False, health_watch_s=0.2)
    page = await dash.page(base)
    await start_job(page, unique_keywords(2), ["blog"])
    await expect(page.locator("#progress-eta")).to_have_text(
        "작업자 없음 · 작업자가 시작되면 조회합니다", timeout=WAIT_MS
    )
    await expect(page.locator("#progress-rate")).to_have_text("")


async def test_duplicates_are_said_and_estimated_once(serve: Serve, dash: Dash) -> None:  # noqa: F811
    base = await serve(rate_per_s=10.0)
    page = await dash.page(base)
    await page.wait_for_selector("#cat-list input[value='blog']")
    for box in await page.query_selector_all("#cat-list input[name='category']"):
        if await box.is_checked() != (await box.get_attribute("value") == "blog"):
            await box.click()
    await page.fill("#keywords", "맥북\n아이폰\n맥북\n맥북")
    await expect(page.locator("#kw-issues")).to_contain_text(
        "중복된 키워드: 맥북 ×3 (중복은 한 번만 조회되고, 결과에는 입력한 자리마다 나옵니다)"
    )
    await expect(page.locator("#estimate")).to_contain_text("API 호출 2회")


async def test_stats_follow_the_jobs_feed(serve: Serve, dash: Dash) -> None:  # noqa: F811
    base = await serve(rate_per_s=1000.0)
    page = await dash.page(base)
    first = page.locator("#stats-panel .stat").first
    await expect(first).to_have_text("완료0", timeout=WAIT_MS)
    await start_job(page, unique_keywords(2), ["blog"])
    await wait_status(page, "완료")
    started = time.monotonic()
    # Pushed with the job's feed event. Polled every 10 s before: this bound (3 s, generous
    # for a loaded machine) fails most of the time without the push.
    await expect(first).to_have_text("완료1", timeout=3_000)
    assert time.monotonic() - started < 3.0


async def test_no_started_toast_beside_a_failure(serve: Serve, dash: Dash) -> None:  # noqa: F811
    base = await serve(naver_keys=(NaverKey("bad-key", "wrong"),))
    page = await dash.page(base)
    await start_job(page, unique_keywords(1), ["blog"])
    await expect(page.locator("#job-error")).to_be_visible(timeout=WAIT_MS)
    assert await page.locator("#toast").is_hidden()
