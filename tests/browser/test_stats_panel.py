"""The dashboard's stats panel (web/stats.js) in a real browser, after real jobs."""

from __future__ import annotations

import aiohttp

from server.kst import kst_date
from server.model import now_ms
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
from tests.support.fakeupstream import FakeNaver


async def run_jobs(base: str, batches: list[list[str]]) -> None:
    async with aiohttp.ClientSession() as http:
        for keywords in batches:
            async with http.post(f"{base}api/documents/batch", json={"keywords": keywords}) as r:
                job_id = (await r.json())["jobId"]

            async def done(job_id: str = job_id) -> bool:
                async with http.get(f"{base}api/documents/status?jobId={job_id}") as r:
                    return (await r.json())["job"]["status"] == "completed"

            await wait_until(done)


async def test_stats_panel_shows_outcomes_and_key_use(serve: Serve, dash: Dash) -> None:  # noqa: F811
    base = await serve()
    await run_jobs(base, [["하나", "둘"], ["셋"]])  # 3 keywords x 4 categories = 12 calls
    page = await dash.page(base)
    panel = page.locator("#stats-panel")
    await expect(panel.locator(".stat").first).to_have_text("완료2", timeout=WAIT_MS)
    await expect(panel.locator(".stat").nth(1)).to_have_text("실패0")
    await expect(panel.locator(".stat-key-label")).to_have_text("test…")
    await expect(panel.locator(".stat-key-use")).to_have_text("12 / 25,000 (0.0%)")
    assert await panel.locator("meter").get_attribute("value") == "12"
    assert "test-id" not in await panel.inner_text()  # the label, never the id


async def test_stats_panel_in_demo_mode(serve: Serve, dash: Dash) -> None:  # noqa: F811
    base = await serve(provider="demo")
    page = await dash.page(base)
    await expect(page.locator("#stats-panel .help")).to_have_text(
        "데모 모드: 네이버 API를 호출하지 않습니다.", timeout=WAIT_MS
    )


async def test_stats_panel_waits_for_the_one_token_dialog(serve: Serve, dash: Dash) -> None:  # noqa: F811
    base = await serve(api_token="panel-token")
    page = await dash.page(base)
    await expect(page.locator("#token-dialog")).to_be_visible(timeout=WAIT_MS)
    await page.fill("#token-input", "panel-token")
    await page.click("#token-dialog button[value='ok']")
    await expect(page.locator("#token-dialog")).to_be_hidden()
    # The panel's request waited for the same dialog, then went through with the token.
    await expect(page.locator("#stats-panel .stat").first).to_have_text("완료0", timeout=WAIT_MS)


async def test_stats_panel_shows_the_days_figures_after_jobs(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_naver: tuple[FakeNaver, str],
) -> None:
    """The daily part (web/statsdaily.js): opened before any job, it shows the figures of the
    jobs run meanwhile, exactly. Job 1: 2 keywords x 4 categories, 둘's news refused (400 SE01:
    bad_request), 8 calls. Job 2: 하나 again (4 cache hits) and 셋 (4 calls)."""
    fake, _ = fake_naver
    fake.add_fault("400", query="둘", api="news")
    base = await serve()
    page = await dash.page(base)
    panel = page.locator("#stats-panel")
    today = panel.locator("[data-figure=jobs-today] dd")
    await expect(today).to_have_text("0", timeout=WAIT_MS)
    await expect(panel.locator(".stat-failures")).to_have_text("실패 없음")
    await run_jobs(base, [["하나", "둘"], ["하나", "셋"]])
    await expect(today).to_have_text("2", timeout=WAIT_MS)  # refreshed by the jobs feed
    await expect(panel.locator("[data-figure=keywords-today] dd")).to_have_text("4")
    await expect(panel.locator("[data-figure=jobs-window] dd")).to_have_text("2")
    await expect(panel.locator("[data-figure=keywords-window] dd")).to_have_text("4")
    await expect(panel.locator(".stat-hit-today")).to_have_text("오늘 25.0% (적중 4 / 조회 16)")
    await expect(panel.locator(".stat-hit-window")).to_have_text("30일 25.0% (적중 4 / 조회 16)")
    await expect(panel.locator(".stat-calls li")).to_have_text(["test…12회"])
    await expect(panel.locator(".stat-failures li")).to_have_text(["잘못된 요청 bad_request1건"])
    day = kst_date(now_ms())
    row = panel.locator(f".stats-days tr[data-day='{day}'] td")
    await expect(row).to_have_text([day, "2", "4", "25.0%", "1"])
    await expect(panel.locator(".stats-days tbody tr")).to_have_count(1)
    chart = panel.locator(".stats-chart")
    await expect(chart.locator("canvas")).to_have_count(1)
    assert await chart.get_attribute("data-keywords") == "4"
    assert "test-id" not in await panel.inner_text()
    await expect(panel.locator(".stat-job-failures")).to_have_count(0)

    # A job that fails (404 SE05: no such API -> config_error) is listed by its reason.
    fake.add_fault("404", query="넷", api="blog")
    batch = {"keywords": ["넷"]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}api/documents/batch", json=batch) as r,
    ):
        assert r.status == 200
    await expect(panel.locator(".stat-job-failures li")).to_have_text(
        ["설정 오류 config_error1건"], timeout=WAIT_MS
    )
    await expect(today).to_have_text("3")
