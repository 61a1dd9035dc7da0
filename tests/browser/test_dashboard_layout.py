"""The dashboard's results table and layout in a real Chromium: the 경쟁률 기준 picker (values,
header, sort order, remembered across a reload), the keyword column and the header row fixed
while the virtualised table scrolls inside its box, the phone layout at 390×844 (results first,
no page-wide sideways scroll), and the open job's header kept in view when a job is opened."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from server.work.providers.volume_base import normalise
from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    WAIT_MS,
    Dash,
    Serve,
    browser,
    dash,
    serve,
    start_job,
    unique_keywords,
    wait_rows,
    wait_status,
)
from tests.browser.test_keyword_research import ad_overrides
from tests.support.fakesearchad import FakeSearchAd, fake_volume
from tests.support.fakeupstream import FakeNaver, fake_total

pytestmark = pytest.mark.timeout(90)

FOUR = ["blog", "cafe", "news", "web"]
UPSTREAM_API = {"blog": "blog", "cafe": "cafearticle", "news": "news", "web": "webkr"}


def expected_ratio(keyword: str, category: str) -> float:
    """The server's 경쟁률: documents ÷ (PC + mobile searches), a "< 10" counted as 10."""
    pc, mobile, _ = fake_volume(normalise(keyword))
    total = sum(10 if v == "< 10" else int(v) for v in (pc, mobile))
    return round(fake_total(keyword, UPSTREAM_API[category]) / total, 2)


RATIO_CELLS_JS = """() => [...document.querySelectorAll('#result-table tbody tr[data-index]')]
  .map((tr) => [+tr.dataset.index, tr.querySelector('td.col-ratio').textContent])"""


async def ratio_cells(page: Page) -> list[tuple[int, str]]:
    cells: list[list[Any]] = await page.evaluate(RATIO_CELLS_JS)
    return [(int(i), str(text)) for i, text in cells]


async def box(page: Page, selector: str) -> dict[str, float]:
    rect: dict[str, float] | None = await page.locator(selector).first.bounding_box()
    assert rect is not None, selector
    return rect


HEAD_IN_VIEW_JS = """() => {
  const top = document.getElementById('job-panel').getBoundingClientRect().top;
  const bottom = document.getElementById('progress-block').getBoundingClientRect().bottom;
  return top >= 0 && bottom <= window.innerHeight;
}"""


async def test_the_ratio_picker_switches_values_header_and_sort(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_ad: tuple[FakeSearchAd, str],
) -> None:
    _, ad_base = fake_ad
    tag = uuid.uuid4().hex[:4]
    keywords = [f"경쟁{tag}{i}" for i in range(6)]
    page = await dash.page(await serve(**ad_overrides(ad_base)))
    await start_job(page, keywords, ["blog", "cafe"])
    await wait_status(page, "완료")
    await wait_rows(page, len(keywords))
    header = page.locator("#result-table thead th.col-ratio")
    picker = page.locator("#ratio-category")

    def shown(category: str) -> list[tuple[int, str]]:
        return [(i, f"{expected_ratio(k, category):.2f}") for i, k in enumerate(keywords)]

    # By default the job's first category, and the header says so.
    await expect(header).to_have_text("경쟁률 (블로그)")
    await expect(picker).to_have_value("blog")
    assert [o.strip() for o in await picker.locator("option").all_inner_texts()] == [
        "블로그",
        "카페",
    ]
    assert await ratio_cells(page) == shown("blog")
    assert shown("blog") != shown("cafe")  # the data can tell the two apart

    await picker.select_option("cafe")
    await expect(header).to_have_text("경쟁률 (카페)")
    assert await ratio_cells(page) == shown("cafe")

    # Sorting by 경쟁률 (largest first) follows the picked category, and follows a new pick.
    def order(category: str) -> list[int]:
        ranked = sorted(
            range(len(keywords)), key=lambda i: (-expected_ratio(keywords[i], category), i)
        )
        return ranked

    await page.click("#result-table thead button[data-sort='ratio']")
    assert [i for i, _ in await ratio_cells(page)] == order("cafe")
    assert order("cafe") != order("blog")
    await picker.select_option("blog")
    assert [i for i, _ in await ratio_cells(page)] == order("blog")
    await picker.select_option("cafe")

    # The highlight still applies, on the picked category's 경쟁률.
    limit = sorted(expected_ratio(k, "cafe") for k in keywords)[2]
    await page.fill("#hot-min-volume", "0")
    await page.fill("#hot-max-ratio", str(limit))
    hot = sorted(i for i, k in enumerate(keywords) if expected_ratio(k, "cafe") <= limit)
    await expect(page.locator("#result-table tbody tr.row-hot")).to_have_count(len(hot))
    found = await page.eval_on_selector_all(
        "#result-table tbody tr.row-hot", "rows => rows.map((r) => +r.dataset.index)"
    )
    assert sorted(found) == hot

    # Remembered across a reload.
    await page.reload()
    await wait_rows(page, len(keywords))
    await expect(header).to_have_text("경쟁률 (카페)", timeout=WAIT_MS)
    await expect(picker).to_have_value("cafe")
    assert sorted(await ratio_cells(page)) == shown("cafe")


async def test_keyword_column_and_header_stay_while_the_table_scrolls(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_ad: tuple[FakeSearchAd, str],
) -> None:
    _, ad_base = fake_ad
    page = await dash.page(await serve(**ad_overrides(ad_base), rate_per_s=1000.0))
    keywords = unique_keywords(120, "고정")
    await start_job(page, keywords, FOUR)
    await wait_status(page, "완료")
    await wait_rows(page, len(keywords))
    wrap = page.locator("#results")
    sizes = await wrap.evaluate(
        "w => [w.scrollWidth, w.clientWidth, w.scrollHeight, w.clientHeight]"
    )
    assert sizes[0] > sizes[1] and sizes[2] > sizes[3], sizes  # it scrolls both ways

    kw = "#result-table tbody tr[data-index='2'] th.col-kw"
    num = "#result-table tbody tr[data-index='2'] td[data-cat='web']"
    kw_before, num_before = await box(page, kw), await box(page, num)
    await wrap.evaluate("w => { w.scrollLeft = 300; }")
    await page.wait_for_function("document.getElementById('results').scrollLeft === 300")
    kw_after, num_after = await box(page, kw), await box(page, num)
    assert num_after["x"] == pytest.approx(num_before["x"] - 300, abs=1)  # the row moved
    assert kw_after["x"] == pytest.approx(kw_before["x"], abs=0.5)  # its keyword did not
    idx = await box(page, "#result-table tbody tr[data-index='2'] td.col-idx")
    assert idx["x"] + idx["width"] <= kw_after["x"] + 0.5  # nor the # column, beside it

    # Down, far enough that the virtualised window moves: the header row stays on top.
    head = "#result-table thead th.col-kw"
    head_before = await box(page, head)
    wrap_box = await box(page, "#results")
    await wrap.evaluate("w => { w.scrollTop = 2000; }")
    await page.wait_for_function(
        "!document.querySelector(\"#result-table tbody tr[data-index='2']\")", timeout=WAIT_MS
    )
    head_after = await box(page, head)
    assert head_after["y"] == pytest.approx(head_before["y"], abs=0.5)
    assert head_after["y"] == pytest.approx(wrap_box["y"] + 1, abs=1)  # at the box's top
    top_row = await page.evaluate(
        """() => {
          const head = document.querySelector('#result-table thead').getBoundingClientRect();
          const rows = [...document.querySelectorAll('#result-table tbody tr[data-index]')];
          return rows.find((r) => r.getBoundingClientRect().bottom > head.bottom).dataset.index;
        }"""
    )
    assert int(top_row) > 30  # rows under the header are those scrolled to
    kw_far = await box(page, f"#result-table tbody tr[data-index='{top_row}'] th.col-kw")
    assert kw_far["x"] == pytest.approx(kw_before["x"], abs=0.5)


async def test_a_phone_shows_the_results_first_in_their_own_scrolling_box(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_naver: tuple[FakeNaver, str],
) -> None:
    fake, _ = fake_naver
    page = await dash.page()
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(await serve(keyword_concurrency=1, rate_per_s=1000.0))
    keywords = unique_keywords(8, "휴대폰")
    fake.pause(after=3 * len(FOUR))  # the job stays running: three rows in, the rest held
    await start_job(page, keywords, FOUR)
    await wait_rows(page, 3)
    await wait_status(page, "진행 중")

    layout = await page.evaluate(
        """() => ({
          pageWidth: document.scrollingElement.scrollWidth,
          results: document.getElementById('results').getBoundingClientRect().top,
          form: document.querySelector('.panel-form').getBoundingClientRect().top,
        })"""
    )
    assert layout["pageWidth"] <= 390, layout  # no page-wide sideways scroll
    assert layout["results"] < layout["form"], layout  # the results come first
    await page.wait_for_function(HEAD_IN_VIEW_JS, timeout=WAIT_MS)  # started: header in view

    # The table scrolls inside its box; the first count is whole on screen, in a readable size.
    wrap = page.locator("#results")
    wrap_box = await box(page, "#results")
    assert wrap_box["x"] >= 0 and wrap_box["x"] + wrap_box["width"] <= 390
    assert await wrap.evaluate("w => w.scrollWidth > w.clientWidth")
    blog = await box(page, "#result-table tbody tr[data-index='0'] td[data-cat='blog']")
    assert blog["x"] + blog["width"] <= wrap_box["x"] + wrap_box["width"]
    size = await page.locator(
        "#result-table tbody tr[data-index='0'] td[data-cat='blog']"
    ).evaluate("td => parseFloat(getComputedStyle(td).fontSize)")
    assert size >= 13
    kw = "#result-table tbody tr[data-index='0'] th.col-kw"
    before = await box(page, kw)
    await wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    await page.wait_for_function("document.getElementById('results').scrollLeft > 100")
    assert (await box(page, kw))["x"] == pytest.approx(before["x"], abs=0.5)
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= 390
    # The rest of the rows push the form down: the page must not follow it (scroll anchoring
    # on the form, first in the DOM), taking the job's header out of view.
    fake.release()
    await wait_status(page, "완료")
    await wait_rows(page, len(keywords))
    assert await page.evaluate(HEAD_IN_VIEW_JS)


async def test_opening_a_job_keeps_its_header_in_view(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_naver: tuple[FakeNaver, str],
) -> None:
    fake, _ = fake_naver
    page = await dash.page(await serve(keyword_concurrency=1, rate_per_s=1000.0))
    done = await start_job(page, unique_keywords(3, "끝난"), ["blog"])
    await wait_status(page, "완료")
    fake.pause(after=1)  # the second job stays running, its progress bar showing
    held = await start_job(page, unique_keywords(5, "도는"), ["blog"])
    await wait_rows(page, 1)
    await wait_status(page, "진행 중")

    # a laptop (the list beside the results), then a phone (the list below them)
    for width, height, job_id in ((1360, 900, done), (1360, 900, held), (390, 844, done)):
        await page.set_viewport_size({"width": width, "height": height})
        link = page.locator(f"#job-list a[href='#job={job_id}']")
        await expect(link).to_be_visible(timeout=WAIT_MS)
        # Read the list further down the page: the open job's header is scrolled away.
        await page.evaluate(
            "() => window.scrollTo(0, scrollY - 80"
            " + document.getElementById('job-list').getBoundingClientRect().top)"
        )
        assert (
            await page.evaluate("document.getElementById('job-panel').getBoundingClientRect().top")
            < 0
        )
        await link.click()
        await page.wait_for_function(
            "id => decodeURIComponent(location.hash.slice(5)) === id", arg=job_id, timeout=WAIT_MS
        )
        await page.wait_for_function(HEAD_IN_VIEW_JS, timeout=WAIT_MS)
        status = "완료" if job_id == done else "진행 중"
        await wait_status(page, status)
        assert await page.locator("#job-status").is_visible()
        assert await page.locator("#progress-block").is_visible()
        # headed by its name, as in the list
        name = await link.locator(".job-main").inner_text()
        assert name.endswith(" 외 2개" if job_id == done else " 외 4개")
        await expect(page.locator("#job-title")).to_have_text(name)
    fake.release()
