"""The dashboard in Firefox (Debian's firefox-esr), driven over WebDriver BiDi (tests/bidi.py).

The full scenarios run in Chromium (test_dashboard.py); here the page must do its main job in
the other engine too: stream a job live over SSE, and finish one by polling when neither
EventSource nor WebSocket exists. Skips where Firefox is missing; fails instead under
DOCCOUNT_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from server.api.app import create_app
from server.settings import Settings
from tests.support.bidi import FIREFOX, Firefox, firefox
from tests.support.common import base_settings, skip_or_fail
from tests.support.fakeupstream import FakeNaver, fake_total

# One Firefox for the module (it takes seconds to start): the tests, and the fixtures they
# use, share the module's event loop, and each test gets a fresh tab.
pytestmark = [pytest.mark.timeout(90), pytest.mark.asyncio(loop_scope="module")]

ROWS_JS = (  # the rows in the DOM: a short job's table is whole (the table is virtualised)
    "[...document.querySelectorAll('#result-table tbody tr[data-index]')]"
    ".map(tr => +tr.dataset.index)"
)
CATCH_ERRORS = (
    "() => { window.__errors = []; "
    "window.addEventListener('error', e => window.__errors.push(String(e.message))); }"
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def firefox_browser() -> AsyncIterator[Firefox]:
    if not Path(FIREFOX).exists():  # noqa: ASYNC240 - a stat, once per module
        skip_or_fail(f"{FIREFOX} not found (apt-get install firefox-esr, or set DOCCOUNT_FIREFOX)")
    async with firefox() as browser:
        await browser.preload(CATCH_ERRORS)
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def ff(firefox_browser: Firefox) -> AsyncIterator[Firefox]:
    async with firefox_browser.tab() as tab:
        yield tab
        assert await tab.eval("window.__errors") == [], "uncaught errors in the page"


@pytest_asyncio.fixture(loop_scope="module")
async def fake_naver() -> AsyncIterator[tuple[FakeNaver, str]]:
    """conftest's fake upstream, on the module's loop."""
    fake = FakeNaver()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/v1/search"))
    fake.release()
    await server.close()


@pytest_asyncio.fixture(loop_scope="module")
async def make_client() -> AsyncIterator[Callable[[Settings], Awaitable[TestClient[Any, Any]]]]:
    """conftest's app factory, on the module's loop."""
    clients: list[TestClient[Any, Any]] = []

    async def _make(settings: Settings) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(
            TestServer(create_app(settings), host="127.0.0.1")
        )
        await client.start_server()
        clients.append(client)
        return client

    yield _make
    for client in clients:
        await client.close()


async def start_job(ff: Firefox, keywords: list[str]) -> str:
    await ff.wait_for("!!document.querySelector(\"#cat-list input[value='blog']\")")
    text = "\\n".join(keywords)
    await ff.eval(
        "(() => { const k = document.querySelector('#keywords'); "
        f'k.value = "{text}"; k.dispatchEvent(new Event("input", {{bubbles: true}})); '
        "document.querySelector('#start').click(); return true; })()"
    )
    job_id: str = await ff.wait_for(
        "location.hash.startsWith('#job=') && decodeURIComponent(location.hash.slice(5))"
    )
    assert job_id.startswith("batch_")
    return job_id


def cell_numbers(row: list[str]) -> list[int]:
    return [int(cell.replace(",", "")) for cell in row]


async def test_job_streams_live_over_sse_in_firefox(ff, tmp_path, fake_naver, make_client):
    fake, base = fake_naver
    settings = base_settings(
        tmp_path, base, rate_per_s=1000.0, progress_interval_s=0.2, keyword_concurrency=1
    )
    client = await make_client(settings)
    await ff.navigate(str(client.make_url("/")))
    tag = uuid.uuid4().hex[:6]
    keywords = [f"파이어폭스 {tag} {i}" for i in range(12)]
    fake.pause(after=8)  # two keywords' four categories each, then held until released
    await start_job(ff, keywords)

    # Rows arrive while the job is still running.
    partial = await ff.wait_for(
        f"(() => {{ const r = {ROWS_JS}; "
        "return r.length > 0 && document.querySelector('#job-status').textContent === '진행 중'"
        " && r; })()"
    )
    assert 0 < len(partial) < len(keywords)
    assert await ff.eval("document.querySelector('#conn-transport').textContent") == "SSE"
    fake.release()

    await ff.wait_for("document.querySelector('#job-status').textContent === '완료'")
    # Rows are drawn on the next animation frame: the status can show a moment before them.
    await ff.wait_for(f"{ROWS_JS}.length >= {len(keywords)}")
    assert sorted(await ff.eval(ROWS_JS)) == list(range(len(keywords)))
    # The first keyword's row shows the upstream's counts in category order.
    first: list[Any] = await ff.eval(
        "[...document.querySelector('#result-table tbody tr[data-index=\"0\"]')"
        ".querySelectorAll('td.col-num')].map(td => td.textContent.trim())"
    )
    expected = [fake_total(keywords[0], api) for api in ("blog", "cafearticle", "news", "webkr")]
    assert cell_numbers(first[:4]) == expected
    assert cell_numbers(first[4:5]) == [sum(expected)]


async def test_polling_finishes_the_job_without_sse_or_websocket(
    ff, tmp_path, fake_naver, make_client
):
    await ff.preload("() => { delete window.EventSource; delete window.WebSocket; }")
    settings = base_settings(tmp_path, fake_naver[1], rate_per_s=1000.0)
    client = await make_client(settings)
    await ff.navigate(str(client.make_url("/")))
    keywords = [f"폴링 {uuid.uuid4().hex[:6]} {i}" for i in range(6)]
    await start_job(ff, keywords)
    await ff.wait_for("document.querySelector('#job-status').textContent === '완료'")
    assert await ff.eval("document.querySelector('#conn-transport').textContent") == "폴링"
    await ff.wait_for(f"{ROWS_JS}.length >= {len(keywords)}")  # drawn on the next frame
    assert sorted(await ff.eval(ROWS_JS)) == list(range(len(keywords)))
