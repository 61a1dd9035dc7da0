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
