"""The 관심 키워드 panel (web/watchlists.js) in a real Chromium: a list made in the form, run now
twice, and the keyword that moved most since the previous run."""

from __future__ import annotations

import aiohttp

from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    WAIT_MS,
    Dash,
    Serve,
    browser,
    dash,
    expect,
    serve,
)
from tests.browser.test_tabs import open_streams
from tests.support.common import wait_until
from tests.support.fakeupstream import FakeNaver, fake_total


async def wait_done(base: str, job_id: str) -> None:
    async with aiohttp.ClientSession() as http:

        async def done() -> bool:
            async with http.get(f"{base}api/documents/status?jobId={job_id}") as r:
                return (await r.json())["job"]["status"] == "completed"

        await wait_until(done)


async def test_watchlist_panel_runs_and_shows_movers(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_naver: tuple[FakeNaver, str],
) -> None:
    fake, _ = fake_naver
    base = await serve(cache_ttl_s=0.0)
    page = await dash.page(base)
    await page.click("#watch-panel summary")
    await page.fill("#wl-name", "캠핑 용품")
    await page.fill("#wl-keywords", "캠핑 의자\n텐트")
    await page.fill("#wl-time", "09:30")
    await page.click("#wl-form button[type=submit]")
    item = page.locator("#wl-list .wl-item")
    await expect(item).to_have_count(1, timeout=WAIT_MS)
    await expect(item.locator(".wl-name")).to_have_text("캠핑 용품")
    await expect(item).to_contain_text("키워드 2개 · 매일 09:30 (한국 시간)")
    await expect(item.locator(".wl-when")).to_contain_text(":30 KST")

    for _ in range(2):
        await item.locator("button[data-run]").click()
        await page.wait_for_function("location.hash.startsWith('#job=')", timeout=WAIT_MS)
        job_id = (await page.evaluate("location.hash")).removeprefix("#job=")
        await wait_done(base, job_id)
        await page.evaluate("history.replaceState(null, '', location.pathname)")
        fake.totals[("캠핑 의자", "blog")] = fake_total("캠핑 의자", "blog") + 1204
        fake.totals[("텐트", "news")] = fake_total("텐트", "news") - 7

    await page.reload()
    item = page.locator("#wl-list .wl-item")
    movers = item.locator(".wl-movers")
    await expect(movers).to_have_count(2, timeout=WAIT_MS)
    await expect(movers.first).to_have_text("많이 오름 캠핑 의자▲1,204")
    await expect(movers.nth(1)).to_have_text("많이 내림 텐트▼7")
    await expect(item.locator(".wl-when")).to_contain_text("마지막 실행")


# The page's 15 s refresh of the panel switched off: only the live path can show a run's movers.
NO_PANEL_REFRESH = """
window.setInterval = ((every) => (fn, ms, ...args) => (ms === 15000 ? 0 : every(fn, ms, ...args)))(
  window.setInterval,
);
"""


async def run_now(http: aiohttp.ClientSession, base: str, watchlist_id: str) -> str:
    async with http.post(f"{base}api/watchlists/{watchlist_id}/run") as r:
        assert r.status == 200, await r.text()
        job_id: str = (await r.json())["jobId"]
        return job_id


async def test_movers_are_pushed_live_while_a_run_counts(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_naver: tuple[FakeNaver, str],
) -> None:
    """Issue 14: a run held mid-way with the fake upstream's gate already shows the keywords
    counted so far that moved, then all of them once it ends. The run is started by the API
    (as the scheduler would), not from the page: the panel learns of it from the jobs feed and
    follows its job over the shared connection."""
    fake, _ = fake_naver
    base = await serve(cache_ttl_s=0.0, rate_per_s=1000.0, keyword_concurrency=1)
    keywords = ["캠핑 의자", "텐트", "버너", "랜턴"]
    async with aiohttp.ClientSession() as http:
        body = {
            "name": "캠핑",
            "keywords": keywords,
            "categories": ["blog"],
            "schedule": {"daily": "09:30"},
        }
        async with http.post(f"{base}api/watchlists", json=body) as r:
            assert r.status == 200, await r.text()
            watchlist_id = (await r.json())["watchlist"]["id"]
        await wait_done(base, await run_now(http, base, watchlist_id))
        for keyword, change in zip(keywords, (1204, -7, 50, -300), strict=True):
            fake.totals[(keyword, "blog")] = fake_total(keyword, "blog") + change

        page = await dash.page()
        await page.add_init_script(NO_PANEL_REFRESH)
        await page.goto(base)
        item = page.locator("#wl-list .wl-item")
        await expect(item.locator(".wl-live")).to_have_count(1, timeout=WAIT_MS)
        await expect(page.locator("#conn-state")).to_have_text("연결됨", timeout=WAIT_MS)
        movers = item.locator(".wl-movers")
        await expect(movers).to_have_count(0)  # the first run had nothing to compare with
        other = await dash.page()  # a second tab: served by the first one's connection
        await other.add_init_script(NO_PANEL_REFRESH)
        await other.goto(base)
        other_movers = other.locator("#wl-list .wl-item .wl-movers")
        await expect(other.locator("#wl-list .wl-live")).to_have_count(1, timeout=WAIT_MS)

        fake.pause(after=2)  # one keyword at a time: two answered, the third held
        job_id = await run_now(http, base, watchlist_id)
        await expect(movers).to_have_count(2, timeout=WAIT_MS)
        await expect(movers.first).to_have_text("많이 오름 캠핑 의자▲1,204")
        await expect(movers.nth(1)).to_have_text("많이 내림 텐트▼7")
        async with http.get(f"{base}api/documents/status?jobId={job_id}") as r:
            job = (await r.json())["job"]
        assert (job["status"], job["progress"]["current"]) == ("processing", 2)
        assert fake.held == 1
        await expect(other_movers).to_have_count(2, timeout=WAIT_MS)
        await expect(other_movers.first).to_have_text("많이 오름 캠핑 의자▲1,204")
        # one browser, two tabs: the jobs feed and the run, each streamed once
        assert await open_streams(base) == 2

        fake.release()
        await expect(movers.first).to_have_text(
            "많이 오름 캠핑 의자▲1,204 버너▲50", timeout=WAIT_MS
        )
        await expect(movers.nth(1)).to_have_text("많이 내림 랜턴▼300 텐트▼7")
        await wait_done(base, job_id)
        assert await page.evaluate("location.hash") == ""  # the dashboard did not open the run
        await expect(other_movers.nth(1)).to_have_text("많이 내림 랜턴▼300 텐트▼7")
