"""Issue 14 on the dashboard, in Chromium: before a job starts the form says the quota plan
(what the keys have left today, and whether it ends today or from which KST midnight), and a
watchlist that would not fit today's remaining quota says so in the 관심 키워드 panel."""

from __future__ import annotations

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
)
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver


async def test_the_form_and_the_watchlists_say_the_plan_ahead(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    make_client: Any,
    dash: Dash,  # noqa: F811
) -> None:
    client = await make_client(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))
    page = await dash.page(str(client.make_url("/")))
    await page.wait_for_selector("#cat-list input[value='blog']")
    await page.fill("#keywords", "맥북\n아이폰\n맥북")
    plan = page.locator("#quota-plan")
    await expect(plan).to_have_text("오늘 남은 한도 25,000회 · 오늘 안에 끝납니다", timeout=WAIT_MS)

    # The only key's daily quota is spent: nothing fits before the next midnight KST.
    await (
        client.app[STORE]
        .key_registry()
        .retire("test-id", now_ms() + 3_600_000, "daily quota exceeded (HTTP 429 010)")
    )
    resp = await client.post(
        "/api/watchlists",
        json={
            "name": "캠핑",
            "keywords": ["캠핑 의자", "텐트"],
            "categories": ["blog"],
            "schedule": {"daily": "09:30"},
        },
    )
    assert resp.status in (200, 201), await resp.text()
    midnight = format_kst(next_kst_midnight_ms(now_ms()))
    await page.fill("#keywords", "맥북\n아이폰")
    cats = await page.locator("#cat-list input[name='category']:checked").count()
    await expect(plan).to_have_text(
        f"오늘 남은 한도 0회로는 부족합니다 (필요 최대 {2 * cats}회): "
        f"한도가 초기화되면 이어서 조회하며 {midnight} 이후에 끝납니다",
        timeout=WAIT_MS,
    )
    await page.click("#watch-panel summary")
    item = page.locator("#wl-list .wl-item")
    await expect(item).to_contain_text(
        f"오늘 남은 호출 0회로는 부족합니다 (필요 2회): 실행하면 {midnight} 이후에 끝납니다.",
        timeout=WAIT_MS,
    )
