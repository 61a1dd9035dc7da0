"""A minimal WebDriver BiDi client for Debian's Firefox ESR, enough to drive the dashboard.

Playwright's Firefox needs its own patched build, which cannot be downloaded here; Firefox
itself speaks WebDriver BiDi (``--remote-debugging-port``), a JSON protocol over WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from server.codec import dumps, loads
from tests.support.processes import free_port

FIREFOX = os.environ.get("DOCCOUNT_FIREFOX") or "/usr/bin/firefox-esr"  # Debian's package

# A closed network: no update, telemetry or captive-portal checks trying to get out.
PREFS = """
user_pref("app.update.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("intl.accept_languages", "ko-KR, ko");
"""


class BidiError(Exception):
    pass


class Firefox:
    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, context: str, ids: Iterator[int] | None = None
    ) -> None:
        self.ws = ws
        self.context = context
        self._ids = ids or itertools.count(1)  # shared by the tabs of one session
        self._preloads: list[str] = []

    async def command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        command_id = next(self._ids)
        await self.ws.send_str(dumps({"id": command_id, "method": method, "params": params}))
        while True:
            msg = await self.ws.receive(timeout=30)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise BidiError(f"connection to Firefox ended ({msg.type})")
            body: dict[str, Any] = loads(msg.data)
            if body.get("id") != command_id:
                continue  # an event we did not subscribe to, or another reply
            if body.get("type") == "error":
                raise BidiError(f"{method}: {body.get('error')}: {body.get('message')}")
            result: dict[str, Any] = body["result"]
            return result

    async def navigate(self, url: str) -> None:
        await self.command(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    async def preload(self, js_function: str) -> None:
        """Run before any script of every page from now on (an arrow function's source); a
        tab's preloads end with the tab."""
        added = await self.command("script.addPreloadScript", {"functionDeclaration": js_function})
        self._preloads.append(added["script"])

    @contextlib.asynccontextmanager
    async def tab(self) -> AsyncIterator[Firefox]:
        """A fresh tab of the same browser, closed (with its preloads) on the way out."""
        created = await self.command("browsingContext.create", {"type": "tab"})
        tab = Firefox(self.ws, created["context"], self._ids)
        try:
            yield tab
        finally:
            for script in tab._preloads:
                await self.command("script.removePreloadScript", {"script": script})
            await self.command("browsingContext.close", {"context": tab.context})

    async def eval(self, expression: str) -> Any:
        """The value of ``expression`` in the page, round-tripped through JSON."""
        result = await self.command(
            "script.evaluate",
            {
                "expression": f"JSON.stringify({expression})",
                "target": {"context": self.context},
                "awaitPromise": True,
            },
        )
        if result.get("type") != "success":
            raise BidiError(f"script failed: {result.get('exceptionDetails')}")
        value = result["result"].get("value")
        return None if value is None else loads(value)

    async def wait_for(self, expression: str, timeout_s: float = 20.0) -> Any:
        """Bounded poll until ``expression`` is truthy in the page; returns its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = await self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"page never satisfied: {expression}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def firefox() -> AsyncIterator[Firefox]:
    profile = Path(tempfile.mkdtemp(prefix="doccount-ff-"))
    (profile / "user.js").write_text(PREFS)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        FIREFOX, "--headless", "--no-remote", "--profile", str(profile),
        f"--remote-debugging-port={port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    ws = await http.ws_connect(f"ws://127.0.0.1:{port}/session")
                    break
                except aiohttp.ClientError:
                    if time.monotonic() > deadline or proc.returncode is not None:
                        raise BidiError("Firefox did not open its WebDriver BiDi port") from None
                    await asyncio.sleep(0.1)
            async with ws:
                probe = Firefox(ws, "")
                await probe.command("session.new", {"capabilities": {}})
                tree = await probe.command("browsingContext.getTree", {})
                yield Firefox(ws, tree["contexts"][0]["context"])
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
