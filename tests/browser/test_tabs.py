"""Many dashboard tabs in one browser (issue 19): one live connection for all of them.

Browsers give an origin six HTTP/1.1 connections; with a stream per tab the seventh tab could
not load. Here ten tabs of one browser context share one leader tab's streams (web/shared.js),
counted on the server's own /metrics.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

import aiohttp

from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    ROWS_JS,
    WAIT_MS,
    Dash,
    Serve,
    browser,
    dash,
    expect,
    serve,
    start_job,
    unique_keywords,
    wait_rows,
    wait_status,
)
from tests.support.common import wait_until
from tests.support.fakeupstream import FakeNaver

if TYPE_CHECKING:  # Playwright itself is imported (or its absence reported) in test_dashboard
    from playwright.async_api import Page, Route

TABS = 10
LOAD_S = 10.0  # "within a few seconds", on a loaded 2-core machine; the seventh tab never loaded
FETCH_JS = """async () => {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 10000);
  try {
    const r = await fetch('/api/documents/jobs?limit=1', { signal: ctl.signal });
    return r.status;
  } catch (e) {
    return String(e);
  } finally {
    clearTimeout(timer);
  }
}"""
DOM_ROWS = "#result-table tbody tr[data-index]"
SUBSCRIBERS = re.compile(r'^doccount_subscribers\{transport="(\w+)"\} ([0-9.]+)$', re.M)


async def open_streams(base: str) -> int:
    """Live connections the server holds open (SSE streams and WebSockets), from /metrics."""
    async with aiohttp.ClientSession() as http, http.get(f"{base}metrics") as r:
        text = await r.text()
    return sum(int(float(n)) for _, n in SUBSCRIBERS.findall(text))


async def open_job(page: Page, job_id: str) -> None:
    await page.evaluate("id => { location.hash = '#job=' + encodeURIComponent(id); }", job_id)


async def test_ten_tabs_load_and_share_one_connection(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_naver: tuple[FakeNaver, str],
) -> None:
    fake, _ = fake_naver
    base = await serve(rate_per_s=1000.0, keyword_concurrency=1)
    tabs: list[Page] = []
    for _ in range(TABS):
        started = time.monotonic()
        tabs.append(await dash.page(base))
        await expect(tabs[-1].locator("#cat-list input").first).to_be_attached(timeout=WAIT_MS)
        assert time.monotonic() - started < LOAD_S, f"tab {len(tabs)} took too long to load"
    # every tab's API calls answer, and every tab is live (on the one shared connection)
    assert await asyncio.gather(*(t.evaluate(FETCH_JS) for t in tabs)) == [200] * TABS
    for t in tabs:
        await expect(t.locator("#conn")).to_have_attribute(
            "data-state", "connected", timeout=WAIT_MS
        )
        await expect(t.locator("#conn-shared")).to_be_visible()
    roles = [await t.locator("#conn").get_attribute("data-shared") for t in tabs]
    assert sorted(roles) == ["follower"] * (TABS - 1) + ["leader"]
    assert await open_streams(base) == 1  # the jobs feed, for all ten

    first, last = tabs[0], tabs[-1]
    keywords = unique_keywords(40, "탭")
    fake.pause(after=2)  # the job is held after two rows until released
    job_id = await start_job(last, keywords, ["blog"])
    await open_job(first, job_id)
    for t in (first, last):  # rows arrive live, before the job ends
        await wait_rows(t, 1)
        assert await t.locator("#job-status").text_content() == "진행 중"
    assert await open_streams(base) <= 2  # the feed and the job, whatever the number of tabs
    fake.release()
    for t in (first, last):
        await wait_status(t, "완료")
        await wait_rows(t, len(keywords))
        got = await t.evaluate(ROWS_JS)
        assert sorted(got) == list(range(len(keywords))), "a row is missing or duplicated"
        await expect(t.locator(DOM_ROWS)).to_have_count(len(keywords))  # drawn on the next frame
        dom = await t.evaluate(
            "[...document.querySelectorAll('#result-table tbody tr[data-index]')]"
            ".map((tr) => +tr.dataset.index)"
        )
        assert sorted(dom) == list(range(len(keywords)))
        await expect(t.locator("#progress-count")).to_have_text("40 / 40")


async def test_closing_the_leader_mid_job_loses_and_doubles_nothing(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_naver: tuple[FakeNaver, str],
) -> None:
    fake, _ = fake_naver
    base = await serve(rate_per_s=1000.0, keyword_concurrency=1)
    tabs = [await dash.page(base) for _ in range(3)]
    for t in tabs:
        await expect(t.locator("#conn")).to_have_attribute(
            "data-state", "connected", timeout=WAIT_MS
        )
    keywords = unique_keywords(40, "리더")
    fake.pause(after=2)  # held mid-job until the leader is gone and another has taken over
    job_id = await start_job(tabs[1], keywords, ["blog"])
    for t in tabs:
        await open_job(t, job_id)
        await wait_rows(t, 1)
    roles = [await t.locator("#conn").get_attribute("data-shared") for t in tabs]
    leader = tabs[roles.index("leader")]
    others = [t for t in tabs if t is not leader]
    assert len(await leader.evaluate(ROWS_JS)) < len(keywords), "job ended before the close"
    await leader.close()

    # one of the others takes over, and both carry on live to the end
    async def someone_leads() -> bool:
        roles = [await t.locator("#conn").get_attribute("data-shared") for t in others]
        return "leader" in roles

    await wait_until(someone_leads, timeout_s=WAIT_MS / 1000, step_s=0.1)
    for t in others:
        assert await t.locator("#job-status").text_content() == "진행 중"
    fake.release()
    for t in others:
        await wait_status(t, "완료")
        await wait_rows(t, len(keywords))
        assert sorted(await t.evaluate(ROWS_JS)) == list(range(len(keywords)))
        await expect(t.locator(DOM_ROWS)).to_have_count(len(keywords))  # drawn on the next frame
        dom = await t.evaluate(
            "[...document.querySelectorAll('#result-table tbody tr[data-index]')]"
            ".map((tr) => +tr.dataset.index)"
        )
        assert sorted(dom) == list(range(len(keywords))), "a row is missing or duplicated"

    # The closed leader's streams count until the server's next write to them fails (an event,
    # or the heartbeat within 15 s); after that, the new leader's alone.
    async def two_at_most() -> bool:
        return await open_streams(base) <= 2

    await wait_until(two_at_most, timeout_s=20.0, step_s=0.5)


async def test_a_slow_request_is_explained_in_korean(serve: Serve, dash: Dash) -> None:  # noqa: F811
    base = await serve()
    page = await dash.page(base)
    await expect(page.locator("#conn")).to_have_attribute(
        "data-state", "connected", timeout=WAIT_MS
    )
    release = asyncio.Event()

    async def hold(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/api/documents/jobs?limit=50", hold)
    # the list refresh the page runs while a job waits, here asked for directly
    await page.evaluate(
        "import('/static/api.js').then(({ api }) => { api('/api/documents/jobs?limit=50'); })"
    )
    notice = page.locator("#slow-notice")
    await expect(notice).to_be_visible(timeout=WAIT_MS)
    await expect(notice).to_contain_text("응답하지 않습니다")
    release.set()
    await expect(notice).to_be_hidden(timeout=WAIT_MS)
