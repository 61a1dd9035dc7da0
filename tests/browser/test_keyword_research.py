"""The dashboard's keyword research in a real Chromium: an .xlsx of two columns dropped on the
keyword box (column picked, header skipped, numbers left out), search volume columns filled
live (a volume arriving after its counts updates the row; "< 10" shown as such), the server's
name in the job list, the Excel export, and "연관 키워드로 조회"."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from typing import Any

import openpyxl
import pytest
from playwright.async_api import Page, expect

from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    WAIT_MS,
    Dash,
    Serve,
    browser,
    dash,
    read_bytes,
    serve,
    wait_rows,
    wait_status,
)
from tests.support.fakesearchad import AD_CUSTOMER, AD_LICENSE, AD_SECRET, FakeSearchAd, fake_volume

pytestmark = pytest.mark.timeout(90)


def two_column_xlsx(keywords: list[str]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["검색량", "키워드"])
    for i, k in enumerate(keywords):
        sheet.append([1000 * (i + 1), k])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def drop_file(page: Page, selector: str, name: str, data: bytes) -> None:
    """A file dropped on ``selector`` as a person would (a DataTransfer with a File)."""
    await page.evaluate(
        """([sel, name, b64]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], name));
          const target = document.querySelector(sel);
          for (const type of ['dragover', 'drop']) {
            const init = { dataTransfer: dt, bubbles: true, cancelable: true };
            target.dispatchEvent(new DragEvent(type, init));
          }
        }""",
        [selector, name, base64.b64encode(data).decode()],
    )


def ad_overrides(base: str) -> dict[str, Any]:
    return {
        "volume_provider": "naver",
        "ad_customer_id": AD_CUSTOMER,
        "ad_access_license": AD_LICENSE,
        "ad_secret_key": AD_SECRET,
        "ad_api_base": base,
        "ad_rate_per_s": 1000.0,
    }


def rare_keyword(tag: str) -> str:
    """One the fake answers "< 10" for on PC."""
    for i in range(200):
        k = f"드문{tag}{i}"
        if fake_volume(k.upper())[0] == "< 10":
            return k
    raise AssertionError("no < 10 keyword")


async def test_dropped_xlsx_column_picked_and_started(serve: Serve, dash: Dash) -> None:  # noqa: F811
    tag = uuid.uuid4().hex[:4]
    keywords = [f"캠핑 의자 {tag}", f"낚시 {tag}", f"등산 {tag}"]
    page = await dash.page(await serve())
    await page.wait_for_selector("#cat-list input[value='blog']")
    await drop_file(page, "#keywords", "키워드.xlsx", two_column_xlsx(keywords))
    panel = page.locator("#import-panel")
    await expect(panel).to_be_visible(timeout=WAIT_MS)
    # The 키워드 column is chosen; the 검색량 column (numbers only) cannot be.
    await expect(page.locator("#import-column")).to_have_value("2")
    assert await page.locator("#import-column option[value='1']").is_disabled()
    await expect(page.locator("#import-summary")).to_contain_text("첫 행은 제목")
    await expect(page.locator("#import-summary")).to_contain_text("키워드 3개")
    await page.select_option("#import-column", "2")
    await page.click("#import-apply")
    assert await page.input_value("#keywords") == "\n".join(keywords)
    await page.click("#start")
    await wait_status(page, "완료")
    await wait_rows(page, 3)
    shown = await page.locator("#result-table tbody th.col-kw").all_inner_texts()
    assert shown == keywords
    # The server named the job after its first keyword.
    await expect(page.locator("#job-list .job-main").first).to_have_text(f"{keywords[0]} 외 2개")


async def test_a_spreadsheet_paste_goes_through_the_picker(serve: Serve, dash: Dash) -> None:  # noqa: F811
    page = await dash.page(await serve(run_worker=False))
    await page.wait_for_selector("#cat-list input[value='blog']")
    await page.focus("#keywords")
    await page.evaluate(
        """() => {
          const dt = new DataTransfer();
          dt.setData('text/plain', '키워드\\t검색량\\n캠핑\\t12,300\\n낚시\\t450\\n');
          document.querySelector('#keywords').dispatchEvent(
            new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
        }"""
    )
    await expect(page.locator("#import-panel")).to_be_visible(timeout=WAIT_MS)
    await page.click("#import-apply")
    assert await page.input_value("#keywords") == "캠핑\n낚시"  # not the header, not the numbers


async def test_volume_columns_fill_live_and_export_to_excel(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_ad: tuple[FakeSearchAd, str],
) -> None:
    ad, base = fake_ad
    ad.gate = asyncio.Event()  # the volumes arrive after the counts: the rows must update
    tag = uuid.uuid4().hex[:4]
    rare = rare_keyword(tag)
    keywords = [f"캠핑{tag}", rare]
    page = await dash.page(await serve(**ad_overrides(base)))
    await page.wait_for_selector("#cat-list input[value='blog']")
    await expect(page.locator("#result-table thead")).to_contain_text("PC 검색량")
    await page.fill("#keywords", "\n".join(keywords))
    for box in await page.query_selector_all("#cat-list input[name='category']"):
        if await box.is_checked() != (await box.get_attribute("value") == "blog"):
            await box.click()
    await page.click("#start")
    await wait_rows(page, 2)
    pc = page.locator("#result-table tbody tr[data-index='1'] td[data-vol='pc']")
    await expect(pc).to_have_text("—", timeout=WAIT_MS)  # counted, volume not in yet
    ad.gate.set()
    await expect(pc).to_have_text("< 10", timeout=WAIT_MS)
    await wait_status(page, "완료")
    mobile = fake_volume(keywords[0].upper())[1]
    first_mobile = page.locator("#result-table tbody tr[data-index='0'] td[data-vol='mobile']")
    await expect(first_mobile).to_have_text("< 10" if mobile == "< 10" else f"{int(mobile):,}")
    ratio = page.locator("#result-table tbody tr[data-index='0'] td.col-ratio")
    await expect(ratio).not_to_have_text("—")

    # The highlight (many searches, few documents) follows the thresholds set on screen.
    hot = page.locator("#result-table tbody tr.row-hot")
    await page.fill("#hot-min-volume", "0")
    await page.fill("#hot-max-ratio", "1000000000")
    await expect(hot).to_have_count(2)
    await page.fill("#hot-max-ratio", "0")
    await expect(hot).to_have_count(0)
    # Sorting by 경쟁률: the smaller ratio first when ascending.
    await page.click("#result-table thead button[data-sort='ratio']")
    await page.click("#result-table thead button[data-sort='ratio']")
    ratios = await page.locator("#result-table tbody td.col-ratio").all_inner_texts()
    assert ratios == sorted(ratios, key=float)

    async with page.expect_download() as info:
        await page.click("#export-xlsx")
    download = await info.value
    assert download.suggested_filename == f"캠핑{tag} 외 1개.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(read_bytes(await download.path())))
    assert book.active is not None
    rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    assert rows[0][:5] == ["키워드", "블로그", "합계", "PC 검색량", "모바일 검색량"]
    assert rows[2][0] == rare and rows[2][3] == "< 10"


async def test_related_keywords_fill_the_box(serve: Serve, dash: Dash) -> None:  # noqa: F811
    page = await dash.page(
        await serve(run_worker=False, volume_provider="demo", ad_rate_per_s=1000.0)
    )
    await expect(page.locator("#expand-open")).to_be_visible(timeout=WAIT_MS)
    await page.fill("#keywords", "캠핑")
    await page.click("#expand-open")
    await expect(page.locator("#expand-panel")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#expand-source")).to_have_text("(데모 값)")
    items = page.locator("#expand-list input")
    assert await items.count() == 8  # the demo's relatives of one keyword
    await items.nth(1).uncheck()
    await page.click("#expand-apply")
    lines = (await page.input_value("#keywords")).split("\n")
    assert len(lines) == 7 and all(k.startswith("캠핑") and k != "캠핑" for k in lines)
