"""The browser client module's `share: true` (web/doccount-client.js): eight tabs of a page on
another origin (allowed by --cors-origin), using nothing but the module, follow one job through
one connection held by a leader tab, counted on the server's own /metrics. Unshared, eight
streams would take the six HTTP/1.1 connections a browser gives the service's origin. The
leader tab is closed mid-job: another takes over, resuming by id, and every tab left still gets
every result exactly once.

The upstream is gated (tests/support/crossorigin.py), so the job is mid-way whatever the
machine's load when the tabs join and when the leader goes."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from tests.browser.test_client_module import (  # noqa: F401 (the browser fixture)
    PAGE_WAIT_S,
    browser,
)
from tests.support.common import wait_until
from tests.support.crossorigin import cross_origin_service
from tests.support.fakeupstream import fake_total

TOKEN = "share-api-token"
KEYWORDS = [f"공유{i}" for i in range(12)]
TABS = 8
SUBSCRIBERS = re.compile(r'^doccount_subscribers\{transport="(\w+)"\} ([0-9.]+)$', re.M)

PAGE = """<!doctype html><meta charset="utf-8"><title>another frontend</title>
<script type="module">
import { DocCount } from '__SERVICE__/static/doccount-client.js';
window.results = []; window.transports = []; window.leader = null;
window.start = async (keywords) => (await DocCount.start({ keywords, categories: ['blog'] },
  { baseUrl: '__SERVICE__', token: '__TOKEN__' })).jobId;
window.follow = async (jobId) => {
  const watch = DocCount.watch(jobId, {
    baseUrl: '__SERVICE__',
    token: '__TOKEN__',
    share: true,
    onResult: (r) => window.results.push([r.index, r.keyword, r.counts.blog]),
    onTransport: (t, state, info) => {
      window.transports.push(`${t}:${state}`);
      window.leader = info ? info.leader : null;
    },
  });
  window.shared = watch.shared;
  try {
    window.final = await watch.done;
  } catch (e) {
    window.failure = `${e.code}: ${e.message}`;
  }
};
window.ready = true;
</script>"""


async def open_streams(service: TestServer) -> int:
    """Live connections the server holds open (SSE streams and WebSockets), from /metrics."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(service.make_url("/metrics"), headers=headers) as r,
    ):
        text = await r.text()
    return sum(int(float(n)) for _, n in SUBSCRIBERS.findall(text))


async def test_tabs_share_one_connection_and_survive_the_leader(tmp_path, browser):  # noqa: F811
    async with cross_origin_service(tmp_path, TOKEN) as started:
        upstream, service, page_origin = started.upstream, started.service, started.page_origin
        started.serve_page(PAGE, str(service.make_url("")).rstrip("/"), TOKEN)
        context = await browser.new_context()
        try:
            tabs = []
            for _ in range(TABS):
                tab = await context.new_page()
                await tab.goto(page_origin + "/")
                await tab.wait_for_function("window.ready === true", timeout=PAGE_WAIT_S * 1000)
                tabs.append(tab)
            job_id = await tabs[0].evaluate(f"window.start({json.dumps(KEYWORDS)})")
            upstream.let_through(3)
            for tab in tabs:
                await tab.evaluate("id => { window.follow(id); }", job_id)

            async def all_open(among: list[Any]) -> bool:
                for tab in among:
                    transports = await tab.evaluate("window.transports")
                    if not any(t.endswith(":open") for t in transports):
                        return False
                return True

            async def results_at_least(among: list[Any], n: int) -> bool:
                counts = [await tab.evaluate("window.results.length") for tab in among]
                return min(counts) >= n

            await wait_until(lambda: all_open(tabs), PAGE_WAIT_S)
            await wait_until(lambda: results_at_least(tabs, 3), PAGE_WAIT_S)
            assert [await tab.evaluate("window.shared") for tab in tabs] == [True] * TABS
            assert await open_streams(service) <= 2  # unshared: one per tab, eight
            roles = [await tab.evaluate("window.leader") for tab in tabs]
            assert roles.count(True) == 1, roles
            leader = tabs[roles.index(True)]
            others = [tab for tab in tabs if tab is not leader]
            await leader.close()

            async def someone_leads() -> bool:
                return True in [await tab.evaluate("window.leader") for tab in others]

            await wait_until(someone_leads, PAGE_WAIT_S)
            upstream.let_through(len(KEYWORDS) - 3)
            for tab in others:
                await wait_until(
                    lambda tab=tab: tab.evaluate("window.final !== undefined || !!window.failure"),
                    PAGE_WAIT_S,
                )

            # The closed leader's stream counts until the server's next write to it fails (an
            # event, or the heartbeat within 15 s); after that the new leader's alone.
            async def two_at_most() -> bool:
                return await open_streams(service) <= 2

            await wait_until(two_at_most, 20.0)
            outcomes = [
                await tab.evaluate("[window.failure || null, window.results, window.final]")
                for tab in others
            ]
        finally:
            await context.close()
    expected = [[i, k, fake_total(k, "blog")] for i, k in enumerate(KEYWORDS)]
    for failure, results, final in outcomes:
        assert failure is None
        assert len(results) == len(KEYWORDS)  # none twice
        assert sorted(results) == expected  # none missing
        assert final["status"] == "completed" and len(final["results"]) == len(KEYWORDS)
