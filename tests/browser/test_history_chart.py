"""Keyword history in the dashboard (web/history.js, table.js): the change beside each count,
the 키워드 검색 box, and the uPlot chart with one point per observation, in a real Chromium."""

from __future__ import annotations

from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    WAIT_MS,
    Dash,
    Serve,
    browser,
    dash,
    expect,
    serve,
)
from tests.browser.test_stats_panel import run_jobs
from tests.support.fakeupstream import FakeNaver, fake_total

KEYWORD = "캠핑 의자"


async def test_change_search_and_chart(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_naver: tuple[FakeNaver, str],
) -> None:
    fake, _ = fake_naver
    # No cache: each run counts afresh, so each is an observation of all four categories.
    base = await serve(cache_ttl_s=0.0)
    blog0 = fake_total(KEYWORD, "blog")
    await run_jobs(base, [[KEYWORD]])
    fake.totals[(KEYWORD, "blog")] = blog0 + 1204
    fake.totals[(KEYWORD, "news")] = fake_total(KEYWORD, "news") - 5
    await run_jobs(base, [[KEYWORD]])

    page = await dash.page(base)
    # The newest job (second run) from the list: each cell shows its change.
    await page.locator("#job-list li").first.click()
    blog = page.locator("#result-table tbody td[data-cat='blog']")
    await expect(blog.locator(".delta")).to_have_text("▲1,204", timeout=WAIT_MS)
    await expect(page.locator("#result-table tbody td[data-cat='news'] .delta")).to_have_text("▼5")
    await expect(page.locator("#result-table tbody td[data-cat='cafe'] .delta")).to_have_text("–")
    assert "이전 " in (await blog.get_attribute("title") or "")

    # 키워드 검색 finds it by initials; its button opens the chart.
    await page.fill("#keyword-search", "ㅋㅍ")
    found = page.locator("#keyword-results .kw-link")
    await expect(found).to_have_text([KEYWORD], timeout=WAIT_MS)
    await found.first.click()
    chart = page.locator("#history-chart")
    # 2 runs x 4 categories: 8 observations, each a point of the chart.
    await expect(chart).to_have_attribute("data-points", "8", timeout=WAIT_MS)
    await expect(chart.locator("canvas")).to_have_count(1)
    assert await chart.locator(".history-data tbody tr").count() == 8
    labels = await chart.locator(".u-legend .u-series .u-label").all_inner_texts()
    assert labels == ["관측 시각", "블로그", "카페", "뉴스", "웹문서"]
    # uPlot's own data: the blog series holds both runs' values, oldest first; 8 points in all.
    data = await page.evaluate(
        "import('/static/history.js').then((m) => m.currentChart().data.slice(1)"
        ".map((col) => col.filter((v) => v !== null)))"
    )
    assert data[0] == [blog0, blog0 + 1204]
    assert sum(len(col) for col in data) == 8
    await expect(page.locator("#history-title")).to_have_text(f"{KEYWORD} 이력")
    await expect(page.locator("#history-note")).to_contain_text("관측 8건")
    await expect(page.locator("#history-note")).to_contain_text("KST")

    # Clicking a keyword in the results table opens the same chart.
    await page.click("#history-close")
    await page.locator("#result-table tbody .kw-link").first.click()
    await expect(chart).to_have_attribute("data-points", "8", timeout=WAIT_MS)
