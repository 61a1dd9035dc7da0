"""The dashboard (web/) in a real browser: Debian's Chromium, driven by Playwright, against the
real app (SQLite store, fake Naver upstream or the demo provider) on a free port.

Skips, saying why, where /usr/bin/chromium or playwright is missing; fails instead when
DOCCOUNT_REQUIRE_SERVICES=1. Nothing here sleeps as a signal: every wait is on the page's
state (selectors, `expect`, `wait_for_function`) with a bound.

Set DOCCOUNT_DASHBOARD_SCREENSHOT=docs/dashboard.png to refresh the screenshot in the docs.
"""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from server.api.app import create_app
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver, fake_total

CHROMIUM = os.environ.get("DOCCOUNT_CHROMIUM") or "/usr/bin/chromium"  # Debian's package
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000  # upper bound for anything the page does on its own

# Every row the table holds, in display order: the table is virtualised (only the rows in view
# are in the DOM), so the page's own table model is read, not the <tr>s.
ROWS_JS = "import('/static/page.js').then(({ page }) => page.table.rows().map((r) => r.index))"

pytestmark = pytest.mark.timeout(90)

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # pragma: no cover - the dev extra installs it
    # The browser fixture skips (or fails) with the reason; modules import these names from here.
    async_playwright = None  # type: ignore[assignment]
    expect = None  # type: ignore[assignment]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
async def browser(chromium_endpoint: str) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.connect_over_cdp(chromium_endpoint)
        try:
            yield b
        finally:
            for context in b.contexts[1:]:  # the first is the browser's own default context
                await context.close()
            await b.close()  # disconnects; the process stays for the next test


Serve = Callable[..., Awaitable[str]]


@pytest.fixture
def serve(tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any) -> Serve:
    """Start the app; returns the dashboard's base URL. Naver (fake) unless provider="demo"."""

    async def _serve(**overrides: Any) -> str:
        options: dict[str, Any] = {"rate_per_s": 20.0, "progress_interval_s": 0.2}
        options.update(overrides)
        client = await make_client(base_settings(tmp_path, fake_naver[1], **options))
        return str(client.make_url("/"))

    return _serve


class Dash:
    """One browser context (one 'browser profile': shared localStorage) and its pages."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.context: Any = None
        self.errors: list[str] = []

    async def open(self, **context_options: Any) -> None:
        self.context = await self.browser.new_context(
            viewport={"width": 1360, "height": 900},
            locale="ko-KR",
            timezone_id="Asia/Seoul",
            accept_downloads=True,
            **context_options,
        )

    async def page(self, url: str | None = None) -> Page:
        page = await self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        if url:
            await page.goto(url)
        return page


@pytest.fixture
async def dash(browser: Browser) -> AsyncIterator[Dash]:
    d = Dash(browser)
    await d.open()
    yield d
    await d.context.close()
    assert d.errors == [], "uncaught errors in the page"


# --- helpers -----------------------------------------------------------------------------------


def unique_keywords(n: int, prefix: str = "키워드") -> list[str]:
    """Fresh keywords per test, so the server's count cache never makes a job instant."""
    tag = uuid.uuid4().hex[:6]
    return [f"{prefix} {tag} {i}" for i in range(n)]


async def start_job(page: Page, keywords: list[str], categories: list[str]) -> str:
    await page.wait_for_selector("#cat-list input[value='blog']")
    await page.fill("#keywords", "\n".join(keywords))
    for box in await page.query_selector_all("#cat-list input[name='category']"):
        want = await box.get_attribute("value") in categories
        if await box.is_checked() != want:
            await box.click()
    before = await page.evaluate("location.hash")
    await page.click("#start")
    # A new hash: with a job already open, the old one would match until the submit answers.
    await page.wait_for_function(
        "h => location.hash.startsWith('#job=') && location.hash !== h", arg=before,
        timeout=WAIT_MS,
    )  # fmt: skip
    job_id: str = await page.evaluate("decodeURIComponent(location.hash.slice(5))")
    assert job_id.startswith("batch_")
    return job_id


async def rows(page: Page) -> list[int]:
    result: list[int] = await page.evaluate(ROWS_JS)
    return result


async def wait_rows(page: Page, at_least: int) -> None:
    await page.wait_for_function(
        "n => +document.getElementById('result-table').getAttribute('aria-rowcount') - 1 >= n",
        arg=at_least,
        timeout=WAIT_MS,
    )


async def wait_status(page: Page, label: str) -> None:
    await expect(page.locator("#job-status")).to_have_text(label, timeout=WAIT_MS)


def cell(page: Page, index: int, category: str) -> Any:
    return page.locator(f"#result-table tbody tr[data-index='{index}'] td[data-cat='{category}']")


def read_bytes(path: Path) -> bytes:
    return Path(path).read_bytes()


async def export_csv(page: Page) -> tuple[str, bytes]:
    """Click 내보내기 (CSV): the downloaded file's suggested name and bytes."""
    async with page.expect_download() as info:
        await page.click("#export-csv")
    download = await info.value
    return download.suggested_filename, read_bytes(await download.path())


async def copy_tsv(page: Page) -> list[list[str]]:
    """Click 표 복사 and read the clipboard (the context must grant clipboard access)."""
    await page.click("#copy-tsv")
    await expect(page.locator("#toast")).to_contain_text("복사했습니다")
    tsv: str = await page.evaluate("navigator.clipboard.readText()")
    return [line.split("\t") for line in tsv.split("\n")]


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def ko(n: int) -> str:
    return f"{n:,}"


# --- tests -------------------------------------------------------------------------------------


async def test_rows_stream_in_live_before_the_job_completes(
    serve: Serve, dash: Dash, fake_naver: tuple[FakeNaver, str]
) -> None:
    fake, _ = fake_naver
    base = await serve(rate_per_s=1000.0, keyword_concurrency=1)
    page = await dash.page(base)
    await expect(page.locator("#demo-banner")).to_be_hidden()  # naver provider: no banner
    keywords = unique_keywords(30)
    fake.pause(after=3)  # one keyword at a time: three answered, the rest held until released
    await start_job(page, keywords, ["blog"])

    await wait_rows(page, 3)
    assert await rows(page) == [0, 1, 2]  # on screen while the job is still running
    await expect(page.locator("#job-status")).to_have_text("진행 중")
    await expect(page.locator("#conn-transport")).to_have_text("SSE")
    await expect(page.locator("#conn-state")).to_have_text("연결됨")
    assert await page.get_attribute("#progress", "aria-valuenow") != "100"
    fake.release()

    await wait_status(page, "완료")
    await wait_rows(page, len(keywords))  # drawn on the next frame
    assert sorted(await rows(page)) == list(range(len(keywords)))
    await expect(page.locator("#progress-count")).to_have_text("30 / 30")
    # Counts of ten thousand or more also read in 만 (a tooltip); nearly every blog total is.
    big = [i for i in range(len(keywords)) if fake_total(keywords[i], "blog") >= 10_000][:3]
    assert len(big) == 3
    for i in big:
        await expect(cell(page, i, "blog")).to_have_text(ko(fake_total(keywords[i], "blog")))
        await expect(cell(page, i, "blog")).to_have_attribute("title", re.compile("만"))
    # sorting by the blog column, biggest first, then back to input order
    await page.click("#result-table thead button[data-sort='cat:blog']")
    first = await page.locator("#result-table tbody tr[data-index]").first.get_attribute(
        "data-index"
    )
    best = max(range(len(keywords)), key=lambda i: fake_total(keywords[i], "blog"))
    assert first == str(best)
    await page.click("#result-table thead button[data-sort='index']")
    assert await rows(page) == list(range(len(keywords)))


async def test_reload_and_second_tab_resume_with_every_row_once(
    serve: Serve, dash: Dash, fake_naver: tuple[FakeNaver, str]
) -> None:
    fake, _ = fake_naver
    base = await serve(rate_per_s=1000.0, keyword_concurrency=1)
    page = await dash.page(base)
    stream_urls: list[str] = []
    keywords = unique_keywords(40)
    fake.pause(after=6)  # the job stops after five or six rows until released
    job_id = await start_job(page, keywords, ["blog"])
    await wait_rows(page, 5)

    page.on(
        "request",
        lambda r: stream_urls.append(r.url) if "/api/documents/events?jobId" in r.url else None,
    )
    await page.reload()
    # the cached rows are back at once, and the stream resumes from the last event id
    await wait_rows(page, 5)
    await page.wait_for_function("location.hash.includes('batch_')", timeout=WAIT_MS)
    assert job_id in await page.evaluate("location.hash")
    assert stream_urls and "lastEventId=" in stream_urls[0]
    assert len(await rows(page)) < len(keywords), "job finished before the reload was tested"

    # a second tab of the same profile, opened at the bare URL, follows the same job
    other = await dash.page(base)
    await wait_rows(other, 5)
    fake.release()

    for p in (page, other):
        await wait_status(p, "완료")
        got = await rows(p)
        assert sorted(got) == list(range(len(keywords))), "a row is missing or duplicated"
        await expect(p.locator("#progress-count")).to_have_text("40 / 40")
    for i in (0, 39):
        await expect(cell(other, i, "blog")).to_have_text(ko(fake_total(keywords[i], "blog")))

    # a finished job opens from localStorage without asking the server for it
    job_requests: list[str] = []
    page.on("request", lambda r: job_requests.append(r.url) if job_id in r.url else None)
    await page.reload()
    await wait_status(page, "완료")
    await wait_rows(page, len(keywords))
    assert sorted(await rows(page)) == list(range(len(keywords)))
    assert job_requests == []


@pytest.mark.parametrize("how", ["blocked", "missing"])
async def test_polling_finishes_the_job_when_sse_and_websocket_fail(
    serve: Serve, dash: Dash, fake_naver: tuple[FakeNaver, str], how: str
) -> None:
    fake, _ = fake_naver
    base = await serve(rate_per_s=1000.0, keyword_concurrency=1)
    page = await dash.page()
    if how == "blocked":  # a proxy that kills both streaming transports
        await page.route("**/api/documents/events**", lambda route: route.abort())
        await page.route_web_socket("**/api/documents/ws**", lambda ws: ws.close())
    else:  # a browser without either API
        await page.add_init_script("delete window.EventSource; delete window.WebSocket;")
    polls: list[str] = []
    page.on(
        "request",
        lambda request: polls.append(request.url) if "/documents/status" in request.url else None,
    )
    await page.goto(base)
    keywords = unique_keywords(20, "폴링")
    fake.pause(after=4)  # held mid-job until the page has fallen back to polling
    await start_job(page, keywords, ["blog", "news"])
    await expect(page.locator("#conn-transport")).to_have_text("폴링", timeout=WAIT_MS)
    await expect(page.locator("#job-status")).to_have_text("진행 중")
    fake.release()
    await wait_status(page, "완료")
    await wait_rows(page, len(keywords))  # drawn on the next frame
    assert sorted(await rows(page)) == list(range(len(keywords)))
    await expect(cell(page, 7, "news")).to_have_text(ko(fake_total(keywords[7], "news")))
    # Once the page has seen an event, each poll asks only for what came after it.
    first = next(i for i, url in enumerate(polls) if "since=" in url)
    assert all("since=" in url for url in polls[first:]), polls


async def test_websocket_takes_over_when_sse_is_blocked(
    serve: Serve, dash: Dash, fake_naver: tuple[FakeNaver, str]
) -> None:
    fake, _ = fake_naver
    base = await serve(rate_per_s=1000.0, keyword_concurrency=1)
    page = await dash.page()
    await page.route("**/api/documents/events**", lambda route: route.abort())
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(str(frame))))
    await page.goto(base)
    keywords = unique_keywords(60, "웹소켓")
    fake.pause(after=5)  # the job stops after four or five rows until released
    job_id = await start_job(page, keywords, ["blog"])
    await expect(page.locator("#conn-transport")).to_have_text("WebSocket", timeout=WAIT_MS)
    await wait_rows(page, 4)
    assert len(await rows(page)) < len(keywords), "job finished before the reload was tested"
    sent.clear()
    await page.reload()  # resumes over WebSocket from the cached last event id
    await wait_rows(page, 4)
    # Held until the reloaded page has subscribed again (Playwright reports frames a moment
    # after they are sent).
    await wait_until(lambda: any(job_id in f for f in sent), timeout_s=WAIT_MS / 1000)
    subscribes = [f for f in sent if job_id in f]
    assert '"lastEventId"' in subscribes[0]
    fake.release()
    await wait_status(page, "완료")
    await wait_rows(page, len(keywords))  # drawn on the next frame
    assert sorted(await rows(page)) == list(range(len(keywords)))


async def test_page_modules_dedupe_format_and_escape(serve: Serve, dash: Dash) -> None:
    """The pure modules, run in the browser: no Node needed."""
    base = await serve()
    page = await dash.page(base)
    out = await page.evaluate(
        r"""async () => {
        const { JobState } = await import('/static/jobstate.js');
        const { fmtMan, fmtNum, fmtDuration } = await import('/static/format.js');
        const { parseKeywords } = await import('/static/keywords.js');
        const { toCSV } = await import('/static/export.js');
        const { rowModel } = await import('/static/table.js');
        const r = (index, blog) => ({ index, keyword: 'k' + index, counts: { blog } });
        const s = new JobState('x');
        s.mergeJob({ status: 'processing', progress: { current: 2, total: 3 },
                     categories: ['blog'], results: [r(0, 1), r(1, 2)] });
        const dupe = s.addResult(r(1, 2));
        const fresh = s.addResult(r(2, 3));
        s.setProgress({ current: 1, total: 3 });  // a stale tick never moves progress back
        const progress = s.job.progress.current;
        const merged = s.mergeJob({ status: 'processing', results: [r(0, 1), r(1, 2), r(2, 3)] });
        const gap = s.mergeJob({ status: 'processing', results: [r(5, 9)] }, { replace: true });
        s.mergeJob({ status: 'completed' });
        const stale = s.mergeJob({ status: 'processing' });  // never back from terminal
        const kw = parseKeywords('a, b\n\tc\n a \n' + 'x'.repeat(5),
                                 { maxKeywords: 4, maxKeywordChars: 4 });
        const m = rowModel({ index: 0, keyword: '=1+1', counts: { blog: 5 }, error: '뉴스: 실패',
                             errors: { news: '실패' } }, ['blog', 'news']);
        return {
          dupe, fresh: fresh && fresh.index, progress, added: merged.added.length,
          gapReset: gap.reset, afterGap: [...s.results.keys()], status: s.status,
          stale: stale.added.length,
          man: [fmtMan(9999), fmtMan(12543), fmtMan(125430000)], num: fmtNum(1234567),
          dur: fmtDuration(83000), kw: [kw.keywords, kw.duplicateCount, kw.overLimit, kw.tooLong],
          partial: [m.total, m.partial],
          csv: toCSV([m], ['blog', 'news'], { blog: '블로그', news: '뉴스' }),
        };
    }"""
    )
    assert out["dupe"] is None and out["fresh"] == 2
    assert out["progress"] == 2
    assert out["added"] == 0
    assert out["gapReset"] is True and out["afterGap"] == [5]
    assert out["status"] == "completed" and out["stale"] == 0
    assert out["man"] == ["9,999", "약 1.3만", "약 1억 2,543만"]
    assert out["num"] == "1,234,567" and out["dur"] == "1분 23초"
    assert out["kw"] == [["a", "b", "c", "a", "xxxxx"], 1, 1, ["xxxxx"]]
    assert out["partial"] == [5, True]
    assert out["csv"] == (
        "\ufeff번호,키워드,블로그,뉴스,합계,캐시,오류,출처\r\n1,'=1+1,5,,5,,뉴스: 실패,\r\n"
    )


async def test_cancel_a_running_job(
    serve: Serve, dash: Dash, fake_naver: tuple[FakeNaver, str]
) -> None:
    fake, _ = fake_naver
    base = await serve(rate_per_s=1000.0, keyword_concurrency=1)
    page = await dash.page(base)
    keywords = unique_keywords(40, "취소")
    fake.pause(after=3)  # held mid-job: the cancel always lands while it runs
    job_id = await start_job(page, keywords, ["blog"])
    await wait_rows(page, 2)
    await page.click("#cancel-job")
    await expect(page.locator("#confirm-dialog")).to_be_visible()
    await page.click("#confirm-yes")
    await wait_status(page, "취소됨")
    await expect(page.locator("#job-notice")).to_contain_text("취소")
    await expect(page.locator("#cancel-job")).to_be_hidden()
    kept = await rows(page)
    assert 2 <= len(kept) < len(keywords)
    # every result the server kept is on screen (none lost to closing the stream early)
    job = await page.evaluate(
        "id => fetch('/api/documents/status?jobId=' + id).then(r => r.json()).then(b => b.job)",
        job_id,
    )
    assert job["status"] == "cancelled"
    assert sorted(kept) == [r["index"] for r in job["results"]]
    item = page.locator(f"#job-list li[data-job-id='{job_id}']")
    await expect(item.locator(".badge")).to_have_text("취소됨", timeout=WAIT_MS)


async def test_queued_job_shows_its_position_and_starts_after_a_cancel(
    serve: Serve, dash: Dash, fake_naver: tuple[FakeNaver, str]
) -> None:
    fake, _ = fake_naver
    base = await serve(rate_per_s=1000.0, max_active_jobs=1, keyword_concurrency=1)
    page = await dash.page(base)
    fake.pause(after=2)  # the first job holds the only slot until released
    first = await start_job(page, unique_keywords(40, "앞"), ["blog"])
    await wait_rows(page, 1)
    second = await start_job(page, unique_keywords(3, "뒤"), ["blog"])
    await wait_status(page, "대기 중")
    await expect(page.locator("#progress-eta")).to_contain_text("대기열 1번째", timeout=WAIT_MS)
    waiting = page.locator(f"#job-list li[data-job-id='{second}'] .job-sub")
    await expect(waiting).to_contain_text("대기열 1번째", timeout=WAIT_MS)
    # cancel the running one from the list; the queued one (open on screen) starts and ends
    await page.click(f"#job-list li[data-job-id='{first}'] button[data-cancel]")
    await page.click("#confirm-yes")
    await expect(page.locator(f"#job-list li[data-job-id='{first}'] .badge")).to_have_text(
        "취소됨", timeout=WAIT_MS
    )
    fake.release()
    await wait_status(page, "완료")
    assert sorted(await rows(page)) == [0, 1, 2]
    badge = page.locator(f"#job-list li[data-job-id='{first}'] .badge")
    await expect(badge).to_have_text("취소됨", timeout=WAIT_MS)


async def finished_job_page(dash: Dash, base: str, keywords: list[str]) -> Page:
    """The dashboard with a finished blog + news job of ``keywords`` open, allowed to use the
    clipboard (for 표 복사)."""
    await dash.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await dash.page(base)
    await start_job(page, keywords, ["blog", "news"])
    await wait_status(page, "완료")
    await wait_rows(page, len(keywords))
    return page


async def test_csv_export_and_tsv_copy_keep_korean(serve: Serve, dash: Dash) -> None:
    tag = uuid.uuid4().hex[:4]
    keywords = [f"맥북 {tag}", f"캠핑 의자 {tag}", f"=수식 {tag}"]
    page = await finished_job_page(dash, await serve(), keywords)

    name, raw = await export_csv(page)
    # The server's export (the CLI's table too), named after the job.
    assert name == f"{keywords[0]} 외 2개.csv"
    assert raw.startswith(b"\xef\xbb\xbf"), "no UTF-8 BOM: Excel would garble Korean"
    table = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    assert table[0] == ["키워드", "블로그", "뉴스", "합계", "오류"]
    assert len(table) == 4
    blog, news = fake_total(keywords[1], "blog"), fake_total(keywords[1], "news")
    assert table[2] == [keywords[1], str(blog), str(news), str(blog + news), ""]
    assert table[3][0] == "'" + keywords[2]  # a formula-looking cell is defused

    lines = await copy_tsv(page)
    assert lines[0][:4] == ["번호", "키워드", "블로그", "뉴스"]
    assert lines[2][:3] == ["2", keywords[1], str(blog)]


async def test_failed_category_shows_the_error_not_zero(
    serve: Serve, dash: Dash, fake_naver: tuple[FakeNaver, str]
) -> None:
    fake, _ = fake_naver
    keywords = unique_keywords(3, "오류")
    fake.add_fault("400", query=keywords[1], api="news")
    base = await serve()
    page = await dash.page(base)
    await start_job(page, keywords, ["blog", "news"])
    await wait_status(page, "완료 (오류 1)")  # not a clean success (issue 11.6)
    failed = cell(page, 1, "news")
    await expect(failed).to_have_text("실패")
    assert "뉴스" in (await failed.get_attribute("title") or "")
    await expect(cell(page, 1, "blog")).to_have_text(ko(fake_total(keywords[1], "blog")))
    total = page.locator("#result-table tbody tr[data-index='1'] td.col-total")
    await expect(total).to_have_text(f"≥ {ko(fake_total(keywords[1], 'blog'))}")
    await expect(page.locator("#job-meta")).to_contain_text("오류 1개")

    async with page.expect_download() as info:
        await page.click("#export-csv")
    text = read_bytes(await (await info.value).path()).decode("utf-8-sig")
    row = next(r for r in csv.reader(io.StringIO(text)) if r[:1] == [keywords[1]])
    assert row[2] == "오류"  # marked failed, not 0
    assert row[4]  # the error message


async def test_job_failure_is_explained_in_korean(
    serve: Serve, dash: Dash, fake_naver: tuple[FakeNaver, str]
) -> None:
    fake, _ = fake_naver
    fake.keys = {"test-id": "another-secret"}  # our only key is rejected (401 024)
    base = await serve()
    page = await dash.page(base)
    await start_job(page, unique_keywords(3, "실패"), ["blog"])
    await wait_status(page, "실패")
    await expect(page.locator("#job-error")).to_contain_text("작업이 실패했습니다")
    assert await page.locator("#job-error").get_attribute("role") == "alert"


async def test_server_unreachable_then_back(serve: Serve, dash: Dash) -> None:
    base = await serve()
    page = await dash.page(base)
    await expect(page.locator("#conn")).to_have_attribute(
        "data-state", "connected", timeout=WAIT_MS
    )
    await page.route("**/api/**", lambda route: route.abort("connectionrefused"))
    await page.route_web_socket("**/api/**", lambda ws: ws.close())
    await page.reload()  # the page and its assets load; every API call fails
    await expect(page.locator("#global-alert")).to_contain_text(
        "서버에 연결할 수 없습니다", timeout=WAIT_MS
    )
    await page.unroute("**/api/**")
    await expect(page.locator("#global-alert")).to_be_hidden(timeout=WAIT_MS)


async def test_server_restart_mid_job_is_survived(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], dash: Dash
) -> None:
    """The server goes away mid-job and comes back on the same port and store: the page says
    so in Korean, reconnects by itself and ends with every row exactly once."""
    fake, _ = fake_naver
    settings = base_settings(
        tmp_path, fake_naver[1], rate_per_s=1000.0, progress_interval_s=0.2, keyword_concurrency=1
    )
    first = TestServer(create_app(settings), host="127.0.0.1")
    await first.start_server()
    port = first.port
    page = await dash.page(str(first.make_url("/")))
    keywords = unique_keywords(40, "재시작")
    fake.pause(after=5)  # the server goes away with the job held mid-way
    await start_job(page, keywords, ["blog"])
    await wait_rows(page, 4)
    await first.close()
    await expect(page.locator("#global-alert")).to_contain_text(
        "서버에 연결할 수 없습니다", timeout=WAIT_MS
    )
    fake.release()
    second = TestServer(create_app(settings), host="127.0.0.1", port=port)
    await second.start_server()
    try:
        await wait_status(page, "완료")
        await wait_rows(page, len(keywords))  # drawn on the next frame
        assert sorted(await rows(page)) == list(range(len(keywords)))
        await expect(page.locator("#global-alert")).to_be_hidden(timeout=WAIT_MS)
        await expect(page.locator("#conn-transport")).to_have_text("SSE")  # not demoted
    finally:
        await second.close()


async def test_keyword_box_counts_and_flags_before_submit(serve: Serve, dash: Dash) -> None:
    base = await serve(max_keywords=5, max_keyword_chars=10)
    page = await dash.page(base)
    await page.wait_for_selector("#cat-list input[value='blog']")
    await page.fill("#keywords", "맥북, 아이폰\n맥북\n\n  갤럭시  ")
    await expect(page.locator("#kw-count")).to_contain_text("키워드 4개")
    await expect(page.locator("#kw-count")).to_contain_text("중복 1개")
    await expect(page.locator("#kw-issues")).to_contain_text("맥북 ×2")
    await page.click("#dedupe")
    await expect(page.locator("#keywords")).to_have_value("맥북\n아이폰\n갤럭시")
    await expect(page.locator("#kw-count")).to_contain_text("키워드 3개")

    await page.fill("#keywords", "아주아주아주아주긴키워드입니다")
    await expect(page.locator("#kw-issues")).to_contain_text("10자를 넘는")
    await page.click("#start")
    await expect(page.locator("#form-error")).to_contain_text("10자를 넘는")
    assert await page.evaluate("location.hash") == ""  # nothing was submitted

    # Over the limit: said before starting, then split into jobs of at most the limit.
    await page.fill("#keywords", "\n".join(f"k{i}" for i in range(7)))
    await expect(page.locator("#kw-issues")).to_contain_text("5개씩 2개 작업으로 나눠 시작합니다")
    await page.click("#start")
    await expect(page.locator("#job-list .job-main")).to_have_text(
        ["k0 외 6개 (2/2)", "k0 외 6개 (1/2)"], timeout=WAIT_MS
    )


async def test_api_token_is_asked_once_and_sent(serve: Serve, dash: Dash) -> None:
    base = await serve(api_token="s3cret-token")
    page = await dash.page(base)
    await expect(page.locator("#token-dialog")).to_be_visible(timeout=WAIT_MS)
    await page.fill("#token-input", "잘못된 토큰")  # not ASCII: cannot go in a header
    await page.click("#token-dialog button[value='ok']")
    await expect(page.locator("#token-error")).to_contain_text("영문, 숫자, 기호")
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    await page.fill("#token-input", "s3cret-token")
    await page.click("#token-dialog button[value='ok']")
    await expect(page.locator("#token-dialog")).to_be_hidden()
    keywords = unique_keywords(5, "토큰")
    await start_job(page, keywords, ["blog"])
    await wait_status(page, "완료")
    assert sorted(await rows(page)) == list(range(5))
    # The live streams ran on SSE with stream tokens: the API token never went into a URL.
    await expect(page.locator("#conn-transport")).to_have_text("SSE")
    assert not [u for u in urls if "s3cret-token" in u]
    streams = [u for u in urls if "/api/documents/events" in u]
    assert streams and all("token=st1." in u for u in streams), streams
    assert await page.evaluate("localStorage.getItem('doccount:v1:token')") == "s3cret-token"
    await page.reload()  # no second question
    await expect(page.locator("#conn")).to_have_attribute(
        "data-state", "connected", timeout=WAIT_MS
    )
    await expect(page.locator("#token-dialog")).to_be_hidden()


async def test_demo_banner_and_a_thousand_keywords(
    serve: Serve, dash: Dash, tmp_path: Path
) -> None:
    base = await serve(provider="demo", rate_per_s=2000.0, keyword_concurrency=16)
    page = await dash.page(base)
    await expect(page.locator("#demo-banner")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#demo-banner")).to_contain_text("데모 모드")
    keywords = unique_keywords(1000, "대량")
    await start_job(page, keywords, ["blog", "cafe"])
    await wait_status(page, "완료")
    await wait_rows(page, 1000)
    assert sorted(await rows(page)) == list(range(1000))
    await expect(page.locator("#job-source")).to_be_visible()
    await page.click("#result-table thead button[data-sort='total']")
    totals = await page.evaluate(
        "[...document.querySelectorAll('#result-table tbody td.col-total')].slice(0, 50)"
        ".map(td => +td.textContent.replace(/[^0-9]/g, ''))"
    )
    assert totals == sorted(totals, reverse=True)


async def test_screenshot_of_a_finished_job(serve: Serve, dash: Dash, tmp_path: Path) -> None:
    base = await serve(provider="demo", rate_per_s=200.0)
    page = await dash.page(base)
    keywords = [
        "맥북 에어",
        "아이폰 16",
        "갤럭시 S25",
        "캠핑 의자",
        "에어팟 프로",
        "다이슨 청소기",
        "닌텐도 스위치",
        "제주도 여행",
        "강아지 사료",
        "홈트레이닝",
        "무선 청소기",
        "전기자전거",
    ]
    await start_job(page, keywords, ["blog", "cafe", "news", "web", "kin"])
    await wait_status(page, "완료")
    await wait_rows(page, len(keywords))
    await page.click("#result-table thead button[data-sort='total']")
    await page.evaluate(
        "document.activeElement.blur(); document.getElementById('toast').hidden = true;"
        "window.scrollTo(0, 0)"
    )
    await page.wait_for_function("document.fonts.status === 'loaded'")
    # What the picture in the docs must show: every keyword, biggest total first, the five
    # category columns, a finished job, the top of the page with no toast over it.
    await expect(page.locator("#job-status")).to_have_text("완료")
    await expect(page.locator("#progress-count")).to_have_text(f"{len(keywords)} / {len(keywords)}")
    await expect(page.locator("#toast")).to_be_hidden()
    assert await page.evaluate("window.scrollY") == 0
    shown = await page.evaluate(
        "[...document.querySelectorAll('#result-table tbody tr[data-index]')].map(tr => "
        "[tr.querySelector('.col-kw').textContent.trim(), "
        "+tr.querySelector('td.col-total').textContent.replace(/[^0-9]/g, '')])"
    )
    assert sorted(k for k, _ in shown) == sorted(keywords)
    totals = [t for _, t in shown]
    assert totals == sorted(totals, reverse=True) and totals[-1] > 0
    heads = await page.locator("#result-table thead th").all_inner_texts()
    for label in ("블로그", "카페", "뉴스", "웹문서", "지식iN"):
        assert any(label in h for h in heads), (label, heads)
    target = os.environ.get("DOCCOUNT_DASHBOARD_SCREENSHOT")
    if target:  # the docs' picture, refreshed on demand
        write_bytes(Path(target), await page.screenshot(animations="disabled"))
