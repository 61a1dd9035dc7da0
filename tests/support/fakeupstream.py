"""A fake Naver search upstream speaking the real JSON (naver-api.md), for tests and benchmarks.

Naver cannot be reached from here. This app answers ``GET /v1/search/{api}.json`` like Naver
does, with deterministic totals, optional latency, scripted faults (429 012/010, 401, 500 SE99,
timeouts, connection resets, an error quoting the caller's secret) and a call log that proves
what was (not) counted twice.
A gate holds answers: ``pause(after=n)`` lets ``n`` more calls through and holds the rest until
``release()``, so a test stops a job exactly where it needs it, then lets it run at full speed.
Control endpoints (``/_calls``, ``/_faults``, ``/_reset``, ``/_pause``, ``/_release``) let
another process drive it. The command also serves the fake Search Ad keyword tool
(``/keywordstool``, fakesearchad.py) on the same port, with ``/_adcalls`` listing its calls.

    python -m tests.support.fakeupstream --port 9000 --latency-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.fakesearchad import FakeSearchAd

API_SCALE = {
    "blog": 2_000_000,
    "cafearticle": 900_000,
    "news": 300_000,
    "webkr": 1_200_000,
    "kin": 150_000,
    "book": 20_000,
    "encyc": 5_000,
    "shop": 800_000,
    "image": 1_500_000,
    "doc": 10_000,
}


def fake_total(query: str, api: str) -> int:
    """The total this fake reports: tests compute expected counts with it."""
    digest = hashlib.sha256(f"{query}|{api}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % API_SCALE.get(api, 100_000)


@dataclass
class Call:
    t_s: float  # time.monotonic() at arrival
    api: str
    query: str
    client_id: str


@dataclass
class FakeNaver:
    keys: dict[str, str] = field(default_factory=lambda: {"test-id": "test-secret"})
    latency_s: float = 0.0
    calls: list[Call] = field(default_factory=list)
    # (query, api) -> faults to serve, one per call, before answering normally; "*" matches any.
    faults: dict[tuple[str, str], deque[str]] = field(default_factory=lambda: defaultdict(deque))
    # Optional hard per-key rate (calls/s over a 1 s window): beyond it, 429 012 like Naver.
    enforce_rate_per_s: float | None = None
    _recent: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # Open unless paused; ``_passes`` is how many more calls a pause lets through.
    _open: asyncio.Event = field(default_factory=asyncio.Event)
    _passes: int | None = None
    held: int = 0  # calls waiting at the gate right now
    # (query, api) -> the total to report instead of fake_total's: a count that changes.
    totals: dict[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._open.set()

    def pause(self, after: int = 0) -> None:
        """Answer ``after`` more calls, then hold every call until ``release()``."""
        self._passes = after
        if after <= 0:
            self._open.clear()

    def release(self) -> None:
        self._passes = None
        self._open.set()

    async def _gate(self) -> None:
        if self._passes is not None:
            if self._passes > 0:
                self._passes -= 1
                return
            self._open.clear()
        if self._open.is_set():
            return
        self.held += 1
        try:
            await self._open.wait()
        finally:
            self.held -= 1

    def add_fault(self, kind: str, query: str = "*", api: str = "*", times: int = 1) -> None:
        self.faults[(query, api)].extend([kind] * times)

    def calls_for(self, query: str, api: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.query == query and (api is None or c.api == api)]

    def _next_fault(self, query: str, api: str) -> str | None:
        for key in ((query, api), (query, "*"), ("*", api), ("*", "*")):
            queue = self.faults.get(key)
            if queue:
                return queue.popleft()
        return None

    def _over_rate(self, client_id: str, now: float) -> bool:
        if self.enforce_rate_per_s is None:
            return False
        recent = self._recent[client_id]
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        recent.append(now)
        return len(recent) > self.enforce_rate_per_s

    async def search(self, request: web.Request) -> web.StreamResponse:
        api = request.match_info["api"]
        query = request.query.get("query", "")
        client_id = request.headers.get("X-Naver-Client-Id", "")
        now = time.monotonic()
        self.calls.append(Call(now, api, query, client_id))
        self.arrived.set()
        self.arrived = asyncio.Event()
        await self._gate()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        fault = self._next_fault(query, api)
        if fault == "timeout":
            await asyncio.sleep(3600)
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if fault == "echo":  # an upstream that quotes the caller's secret back in an error
            secret = request.headers.get("X-Naver-Client-Secret", "")
            return web.json_response(
                {"errorMessage": f"bad secret {secret} here", "errorCode": "X1"}, status=418
            )
        if fault:
            status, code, message = FAULTS[fault]
            return web.json_response({"errorMessage": message, "errorCode": code}, status=status)
        secret = request.headers.get("X-Naver-Client-Secret", "")
        if self.keys.get(client_id) != secret:
            return web.json_response(
                {
                    "errorMessage": "Authentication failed (인증에 실패하였습니다.)",
                    "errorCode": "024",
                },
                status=401,
            )
        if api not in API_SCALE:
            return web.json_response(
                {"errorMessage": "Invalid search api (없는 검색 API 입니다.)", "errorCode": "SE05"},
                status=404,
            )
        if request.query.get("display") != "1":
            return web.json_response(
                {"errorMessage": "Incorrect display value", "errorCode": "SE02"}, status=400
            )
        if self._over_rate(client_id, now):
            status, code, message = FAULTS["429"]
            return web.json_response({"errorMessage": message, "errorCode": code}, status=status)
        return web.json_response(
            {
                "lastBuildDate": "Mon, 26 Sep 2016 11:01:35 +0900",
                "total": self.totals.get((query, api), fake_total(query, api)),
                "start": 1,
                "display": 1,
                "items": [{"title": f"<b>{query}</b>", "link": "https://example.invalid/"}],
            }
        )

    # --- control, for a fake run in another process --------------------------------------

    async def get_calls(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {"t": c.t_s, "api": c.api, "query": c.query, "clientId": c.client_id}
                for c in self.calls
            ]
        )

    async def post_faults(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.add_fault(
            body["kind"], body.get("query", "*"), body.get("api", "*"), int(body.get("times", 1))
        )
        return web.json_response({"ok": True})

    async def post_reset(self, request: web.Request) -> web.Response:
        self.calls.clear()
        self.faults.clear()
        return web.json_response({"ok": True})

    async def post_pause(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json() if request.can_read_body else {}
        self.pause(int(body.get("after", 0)))
        return web.json_response({"ok": True})

    async def post_release(self, request: web.Request) -> web.Response:
        self.release()
        return web.json_response({"ok": True, "held": self.held})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/search/{api}.json", self.search)
        app.router.add_get("/_calls", self.get_calls)
        app.router.add_post("/_faults", self.post_faults)
        app.router.add_post("/_reset", self.post_reset)
        app.router.add_post("/_pause", self.post_pause)
        app.router.add_post("/_release", self.post_release)
        return app


FAULTS: dict[str, tuple[int, str, str]] = {
    "429": (429, "012", "Rate limit exceeded. (속도 제한을 초과했습니다.)"),
    "quota": (429, "010", "Query limit exceeded. (호출 한도를 초과했습니다.)"),
    "401": (401, "024", "Authentication failed (인증에 실패하였습니다.)"),
    "403": (403, "", "API 권한 없음"),
    "500": (500, "SE99", "System error (시스템 에러)"),
    "400": (400, "SE01", "Incorrect query request (잘못된 쿼리요청입니다.)"),
    "404": (404, "SE05", "Invalid search api (없는 검색 API 입니다.)"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description="fake Naver search upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--enforce-rate", type=float, default=None)
    parser.add_argument("--keys", default="test-id:test-secret", help="id:secret,id2:secret2")
    args = parser.parse_args()
    keys = dict(k.split(":", 1) for k in args.keys.split(",") if k)
    fake = FakeNaver(
        keys=keys, latency_s=args.latency_ms / 1000, enforce_rate_per_s=args.enforce_rate
    )
    app = fake.app()
    searchad = FakeSearchAd(latency_s=args.latency_ms / 1000)
    searchad.routes(app)

    async def ad_calls(request: web.Request) -> web.Response:
        return web.json_response(
            [{"t": c.t_s, "hints": c.hints, "status": c.status} for c in searchad.calls]
        )

    app.router.add_get("/_adcalls", ad_calls)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
