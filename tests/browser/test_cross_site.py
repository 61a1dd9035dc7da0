"""An evil page on another origin, in the real Chromium, tries every request a page can send
without asking (no-cors fetch, auto-submitted forms, an image, a WebSocket) against the service:
nothing is created, nothing is spent upstream. The dashboard on the service's own origin still
counts."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    WAIT_MS,
    Dash,
    Serve,
    browser,
    dash,
    expect,
    serve,
    start_job,
    unique_keywords,
    wait_status,
)

EVIL_PAGE = """<!doctype html><meta charset="utf-8"><title>loading</title><body><script>
const A = "%(base)s";
const results = window.results = {wsOpened: false};
let pending = 0;
const done = () => { if (--pending === 0) document.title = "done"; };
const track = (p) => { pending++; p.catch(() => {}).finally(done); };
const body = JSON.stringify({keywords: ["evil-fetch"], categories: ["blog"]});
track(fetch(A + "api/documents/batch", {method: "POST", mode: "no-cors", body}));
track(fetch(A + "api/documents/batch", {method: "POST", mode: "no-cors", body,
  headers: {"Content-Type": "application/x-www-form-urlencoded"}}));
track(new Promise((resolve) => {
  const img = new Image();
  img.onload = img.onerror = resolve;
  img.src = A + "api/documents/count?keyword=evil-img&categories=blog,cafe,news,web";
}));
track(new Promise((resolve) => {
  const ws = new WebSocket(A.replace("http", "ws") + "api/documents/ws");
  ws.onopen = () => {
    results.wsOpened = true;
    ws.send(JSON.stringify({type: "subscribe", jobs: "all"}));
    ws.close();
  };
  ws.onclose = resolve;
}));
for (const [enctype, name, value] of [
  ["text/plain", '{"keywords":["evil-form"],"x":"', '"}'],
  ["application/x-www-form-urlencoded", "keywords", "evil-urlencoded"],
]) {
  track(new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.name = "sink-" + enctype;
    document.body.appendChild(frame);
    frame.onload = resolve;
    const form = document.createElement("form");
    form.method = "POST";
    form.enctype = enctype;
    form.target = frame.name;
    form.action = A + "api/documents/batch";
    const input = document.createElement("input");
    input.name = name;
    input.value = value;
    form.appendChild(input);
    document.body.appendChild(form);
    form.submit();
  }));
}
</script>"""


async def evil_site(base: str) -> TestServer:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=EVIL_PAGE % {"base": base}, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.mark.parametrize("evil_host", ["127.0.0.1", "localhost"], ids=["same-site", "cross-site"])
async def test_an_evil_page_creates_nothing_and_spends_nothing(
    serve: Serve,  # noqa: F811
    dash: Dash,  # noqa: F811
    fake_naver: Any,
    make_client: Any,
    evil_host: str,
) -> None:
    fake, _ = fake_naver
    base = await serve()  # http://127.0.0.1:<port>/, the worker running
    evil = await evil_site(base)
    sent: list[tuple[str, str]] = []
    answered: list[int] = []
    api = base + "api/"
    try:
        page = await dash.page()
        page.on(
            "request",
            lambda r: sent.append((r.method, r.url[len(api) :])) if r.url.startswith(api) else None,
        )
        page.on("response", lambda r: answered.append(r.status) if r.url.startswith(api) else None)
        await page.goto(f"http://{evil_host}:{evil.port}/")
        await expect(page).to_have_title("done", timeout=WAIT_MS)
        assert await page.evaluate("window.results.wsOpened") is False
    finally:
        await evil.close()
    # Each request went out. Those whose answer the page may see were refused; the image's is
    # withheld from the page by Chromium itself (ORB), the WebSocket's is no "response" event.
    assert sorted(sent) == [
        ("GET", "documents/count?keyword=evil-img&categories=blog,cafe,news,web"),
        *[("POST", "documents/batch")] * 4,
    ]
    assert answered == [403] * 4
    dashboard = await dash.page(base)
    listed = await dashboard.evaluate(
        "fetch('api/documents/jobs').then(r => r.json()).then(b => b.jobs.length)"
    )
    assert listed == 0
    assert fake.calls == []

    # The dashboard on its own origin still counts.
    keywords = unique_keywords(3)
    await start_job(dashboard, keywords, ["blog"])
    await wait_status(dashboard, "완료")
    assert sorted(c.query for c in fake.calls) == sorted(keywords)
