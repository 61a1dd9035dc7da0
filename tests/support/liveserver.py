"""The app and a fake Naver on real ports, in a background thread with its own event loop.

For clients that block (schemathesis speaks ``requests``): they cannot share the test's loop
with the server they call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType

from aiohttp import web

from server.api.app import create_app
from server.settings import Settings
from tests.support.fakeupstream import FakeNaver

STARTUP_TIMEOUT_S = 10.0


async def start_site(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    port = server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


class LiveServer:
    """``with LiveServer(make_settings) as live: live.url ...``; make_settings gets the fake's
    base URL."""

    def __init__(self, make_settings: Callable[[str], Settings]) -> None:
        self._make_settings = make_settings
        self.fake = FakeNaver()
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []

    async def _start(self) -> str:
        fake_runner, fake_url = await start_site(self.fake.app())
        self._runners.append(fake_runner)
        app_runner, url = await start_site(create_app(self._make_settings(f"{fake_url}/v1/search")))
        self._runners.append(app_runner)
        return url

    async def _stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()

    def __enter__(self) -> LiveServer:
        self._thread.start()
        started: Future[str] = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.url = started.result(STARTUP_TIMEOUT_S)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(STARTUP_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STARTUP_TIMEOUT_S)
        self._loop.close()
