"""The browser client module (web/doccount-client.js) on a page of another origin allowed by
--cors-origin, using nothing but the module: every result arrives exactly once while the test
cuts the connections and blocks SSE, then WebSocket, mid-job (Playwright route interception),
so the module falls back SSE -> WebSocket -> polling and resumes by id each time.

The upstream is gated: the test lets keywords through a few at a time, so each cut lands
mid-job whatever the machine's load."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_dashboard import CHROMIUM, CHROMIUM_ARGS
from tests.support.common import skip_or_fail, wait_until
from tests.support.crossorigin import cross_origin_service
from tests.support.fakeupstream import fake_total
from tests.support.tcpproxy import TcpProxy

try:
    from playwright.async_api import Browser, async_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    async_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.timeout(120)

TOKEN = "module-api-token"
KEYWORDS = [f"모듈{i}" for i in range(14)]
PAGE_WAIT_S = 30.0  # upper bound for anything the page does on its own, on a loaded machine

PAGE = """<!doctype html><meta charset="utf-8"><title>agency admin</title>
<script type="module">
import { DocCount } from '__SERVICE__/static/doccount-client.js';
window.results = []; window.transports = []; window.statuses = []; window.progress = null;
window.run = async (keywords) => {
  const job = await DocCount.start({ keywords, categories: ['blog'] },
                                   { baseUrl: '__SERVICE__', token: '__TOKEN__' });
  window.jobId = job.jobId;
  const watch = DocCount.watch(job.jobId, {
    baseUrl: '__SERVICE__',
    streamToken: job.streamToken,
    streamTokenExpiresAt: job.streamTokenExpiresAt,
    onResult: (r) => window.results.push([r.index, r.keyword, r.counts.blog]),
    onProgress: (p) => { window.progress = p; },
    onStatus: (s) => window.statuses.push(s),
    onTransport: (t, state) => window.transports.push(`${t}:${state}`),
  });
  try {
    window.final = await watch.done;
  } catch (e) {
    window.failure = `${e.code}: ${e.message}`;
  }
};
window.ready = true;
</script>"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if async_playwright is None:
        skip_or_fail("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240 - a stat, once per test
        skip_or_fail(f"{CHROMIUM} not found (apt-get install chromium, or set DOCCOUNT_CHROMIUM)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def test_every_result_once_across_sse_ws_and_polling(tmp_path, browser):
    async with cross_origin_service(tmp_path, TOKEN) as started:
        upstream = started.upstream
        proxy = TcpProxy("127.0.0.1", started.service.port or 0)
        await proxy.start()
        service_url = f"http://127.0.0.1:{proxy.port}"
        started.serve_page(PAGE, service_url, TOKEN)
        page_origin = started.page_origin
        urls: list[str] = []
        try:
            page = await browser.new_page()
            page.on("request", lambda r: urls.append(r.url))
            page.on("websocket", lambda ws: urls.append(ws.url))
            await page.goto(page_origin + "/")
            await page.wait_for_function("window.ready === true", timeout=PAGE_WAIT_S * 1000)

            async def js(expr: str) -> Any:
                return await page.evaluate(expr)

            async def results() -> int:
                return int(await js("window.results.length"))

            await page.evaluate(f"() => {{ window.run({json.dumps(KEYWORDS)}); }}")
            # 1. SSE carries the first results; then it is cut and blocked.
            upstream.let_through(4)
            await wait_until(lambda: _at_least(results(), 4), PAGE_WAIT_S)
            assert "sse:open" in await js("window.transports")
            await page.route("**/api/documents/events**", lambda route: route.abort())
            assert proxy.cut() >= 1
            # 2. WebSocket takes over, resuming after the last id; then it is cut and blocked.
            await wait_until(lambda: _has(js("window.transports"), "ws:open"), PAGE_WAIT_S)
            upstream.let_through(4)
            await wait_until(lambda: _at_least(results(), 8), PAGE_WAIT_S)
            await wait_until(lambda: _has(js("window.transports"), "ws:open"), PAGE_WAIT_S)
            await page.route_web_socket("**/api/documents/ws**", lambda ws: ws.close())
            proxy.cut()
            # 3. Polling (every 2 s) to the end.
            await wait_until(lambda: _has(js("window.transports"), "poll:open"), PAGE_WAIT_S)
            upstream.let_through(len(KEYWORDS) - 8)
            await wait_until(
                lambda: js("window.final !== undefined || !!window.failure"), PAGE_WAIT_S
            )
            assert await js("window.failure || null") is None
            got = await js("window.results")
            final = await js("window.final")
            transports = await js("window.transports")
            statuses = await js("window.statuses")
            progress = await js("window.progress")
        finally:
            await proxy.close()
    assert [tuple(r) for r in got] == [
        (i, k, fake_total(k, "blog")) for i, k in enumerate(KEYWORDS)
    ]  # every result, once, in order
    assert final["status"] == "completed" and len(final["results"]) == len(KEYWORDS)
    assert statuses[-1] == "completed"
    assert progress == {"current": len(KEYWORDS), "total": len(KEYWORDS)}
    assert "poll:open" in transports
    assert (
        transports.index("sse:open") < transports.index("ws:open") < transports.index("poll:open")
    )
    assert not [u for u in urls if TOKEN in u]  # the API token never went into a URL
    streams = [u for u in urls if "/api/documents/events" in u or "/api/documents/ws" in u]
    assert streams and all("token=st1." in u for u in streams)


async def _at_least(value: Any, n: int) -> bool:
    return int(await value) >= n


async def _has(value: Any, item: str) -> bool:
    return item in await value
