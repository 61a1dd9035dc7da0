"""The dashboard in Firefox (Debian's firefox-esr), driven over WebDriver BiDi (tests/bidi.py).

The full scenarios run in Chromium (test_dashboard.py); here the page must do its main job in
the other engine too: stream a job live over SSE, and finish one by polling when neither
EventSource nor WebSocket exists. Skips where Firefox is missing; fails instead under
DOCCOUNT_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bidi import FIREFOX, Firefox, firefox
from tests.support.common import base_settings, skip_or_fail
from tests.support.fakeupstream import fake_total

pytestmark = pytest.mark.timeout(90)

ROWS_JS = (  # the rows in the DOM: a short job's table is whole (the table is virtualised)
    "[...document.querySelectorAll('#result-table tbody tr[data-index]')]"
    ".map(tr => +tr.dataset.index)"
)
CATCH_ERRORS = (
    "() => { window.__errors = []; "
    "window.addEventListener('error', e => window.__errors.push(String(e.message))); }"
)


@pytest.fixture
async def ff() -> AsyncIterator[Firefox]:
    if not Path(FIREFOX).exists():  # noqa: ASYNC240 - a stat, once per test
        skip_or_fail(f"{FIREFOX} not found (apt-get install firefox-esr, or set DOCCOUNT_FIREFOX)")
    async with firefox() as browser:
        await browser.preload(CATCH_ERRORS)
        yield browser
        assert await browser.eval("window.__errors") == [], "uncaught errors in the page"


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
    settings = base_settings(tmp_path, fake_naver[1], rate_per_s=20.0, progress_interval_s=0.2)
    client = await make_client(settings)
    await ff.navigate(str(client.make_url("/")))
    tag = uuid.uuid4().hex[:6]
    keywords = [f"파이어폭스 {tag} {i}" for i in range(12)]
    await start_job(ff, keywords)

    # Rows arrive while the job is still running (12 keywords x 4 calls at 20/s: ~2.4 s).
    partial = await ff.wait_for(
        f"(() => {{ const r = {ROWS_JS}; "
        "return r.length > 0 && document.querySelector('#job-status').textContent === '진행 중'"
        " && r; })()"
    )
    assert 0 < len(partial) < len(keywords)
    assert await ff.eval("document.querySelector('#conn-transport').textContent") == "SSE"

    await ff.wait_for("document.querySelector('#job-status').textContent === '완료'")
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
    settings = base_settings(tmp_path, fake_naver[1], rate_per_s=40.0)
    client = await make_client(settings)
    await ff.navigate(str(client.make_url("/")))
    keywords = [f"폴링 {uuid.uuid4().hex[:6]} {i}" for i in range(6)]
    await start_job(ff, keywords)
    await ff.wait_for("document.querySelector('#job-status').textContent === '완료'")
    assert await ff.eval("document.querySelector('#conn-transport').textContent") == "폴링"
    assert sorted(await ff.eval(ROWS_JS)) == list(range(len(keywords)))
