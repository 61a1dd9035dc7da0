"""The set-up of the browser client module's tests: an integrator's page on an origin of its
own (allowed by --cors-origin), the service with an API token, and a gated fake upstream that
answers a search only when the test lets one through, so a job is mid-way whatever the load."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from server.api.app import create_app
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver


class GatedNaver(FakeNaver):
    """Answers a search only when the test lets one through."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Semaphore(0)

    def let_through(self, n: int) -> None:
        for _ in range(n):
            self.gate.release()

    async def search(self, request: web.Request) -> web.StreamResponse:
        await self.gate.acquire()
        return await super().search(request)


@dataclass
class CrossOrigin:
    upstream: GatedNaver
    service: TestServer
    page_origin: str  # where the page is served ("/"), without the trailing slash
    _page_html: list[str] = field(default_factory=list)

    def serve_page(self, template: str, service_url: str, token: str) -> None:
        """The page's HTML: ``template`` with __SERVICE__ and __TOKEN__ filled in."""
        self._page_html[:] = [
            template.replace("__SERVICE__", service_url).replace("__TOKEN__", token)
        ]


@contextlib.asynccontextmanager
async def cross_origin_service(tmp_path: Path, token: str) -> AsyncIterator[CrossOrigin]:
    """The three servers, started, and closed at the end (service, page, upstream)."""
    upstream = GatedNaver()
    upstream_server = TestServer(upstream.app(), host="127.0.0.1")
    await upstream_server.start_server()
    page_html: list[str] = []

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=page_html[0], content_type="text/html")

    page_app = web.Application()
    page_app.router.add_get("/", index)
    page_server = TestServer(page_app, host="127.0.0.1")
    await page_server.start_server()
    page_origin = str(page_server.make_url("")).rstrip("/")
    settings = base_settings(
        tmp_path,
        str(upstream_server.make_url("/v1/search")),
        api_token=token,
        cors_origins=(page_origin,),
        keyword_concurrency=1,
        request_timeout_s=120.0,  # a gated search waits for the test, not for a timeout
    )
    service = TestServer(create_app(settings), host="127.0.0.1")
    try:
        await service.start_server()
        yield CrossOrigin(upstream, service, page_origin, page_html)
    finally:
        await service.close()
        await page_server.close()
        await upstream_server.close()
