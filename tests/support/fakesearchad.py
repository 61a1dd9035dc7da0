"""A fake Naver Search Ad keyword tool (``GET /keywordstool``), for tests and benchmarks.

It holds the real API to its contract (shared/naver-api.md): the request must be signed
(HMAC-SHA256 of "{X-Timestamp}.GET./keywordstool" with the customer's secret key) else 403;
hint keywords must have no spaces (400 "Invalid Parameter") and be at most 5 (400, 7001).
It answers the hints first (Latin letters upper-cased, as Naver does), then a few related
keywords, with deterministic counts: ``fake_volume`` is what tests expect, and some keywords
get ``"< 10"``. Faults (429, 500, 403) are scripted per call; a call log proves batching.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

AD_CUSTOMER = "1234567"
AD_LICENSE = "fake-access-license"
AD_SECRET = "fake-secret-key"
RELATED_SUFFIXES = ("추천", "후기", "가격")


def _unit(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def fake_volume(hint: str) -> tuple[int | str, int | str, str]:
    """(monthlyPcQcCnt, monthlyMobileQcCnt, compIdx) this fake answers for a normalised hint.
    One keyword in four has "< 10" on PC; one in eight on mobile too."""
    h = _unit(hint)
    pc: int | str = "< 10" if h % 4 == 0 else 10 + h % 50_000
    mobile: int | str = "< 10" if h % 8 == 0 else 10 + (h >> 8) % 150_000
    comp = ("낮음", "중간", "높음")[h % 3]
    return pc, mobile, comp


def _row(keyword: str) -> dict[str, Any]:
    pc, mobile, comp = fake_volume(keyword)
    return {
        "relKeyword": keyword,
        "monthlyPcQcCnt": pc,
        "monthlyMobileQcCnt": mobile,
        "monthlyAvePcClkCnt": 1.5,
        "monthlyAveMobileClkCnt": 3.2,
        "monthlyAvePcCtr": 0.5,
        "monthlyAveMobileCtr": 0.9,
        "plAvgDepth": 15,
        "compIdx": comp,
    }


@dataclass
class AdCall:
    t_s: float
    hints: list[str]
    status: int


@dataclass
class FakeSearchAd:
    customer: str = AD_CUSTOMER
    license: str = AD_LICENSE
    secret: str = AD_SECRET
    latency_s: float = 0.0
    calls: list[AdCall] = field(default_factory=list)
    faults: deque[str] = field(default_factory=deque)  # "429", "500", "403": one per call
    # Hints Naver knows nothing about: answered without their row.
    unknown: set[str] = field(default_factory=set)
    # When set, answers wait for it: a test holds volumes back until counts are committed.
    gate: asyncio.Event | None = None

    def add_fault(self, kind: str, times: int = 1) -> None:
        self.faults.extend([kind] * times)

    def expected_signature(self, timestamp: str) -> str:
        message = f"{timestamp}.GET./keywordstool".encode()
        return base64.b64encode(
            hmac.new(self.secret.encode(), message, hashlib.sha256).digest()
        ).decode()

    async def keywordstool(self, request: web.Request) -> web.Response:
        hints = [h for h in request.query.get("hintKeywords", "").split(",") if h != ""]
        if self.gate is not None:
            await self.gate.wait()
        status, body = self._answer(request, hints)
        self.calls.append(AdCall(time.monotonic(), hints, status))
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return web.json_response(body, status=status)

    def _answer(self, request: web.Request, hints: list[str]) -> tuple[int, Any]:
        fault = self.faults.popleft() if self.faults else None
        if fault == "429":
            return 429, {"code": 429, "message": "Too Many Requests"}
        if fault == "500":
            return 500, {"code": 500, "message": "Internal Server Error"}
        timestamp = request.headers.get("X-Timestamp", "")
        if (
            fault == "403"
            or request.headers.get("X-Customer") != self.customer
            or request.headers.get("X-API-KEY") != self.license
            or not timestamp.isdigit()
            or not hmac.compare_digest(
                request.headers.get("X-Signature", ""), self.expected_signature(timestamp)
            )
        ):
            return 403, {"code": 403, "title": "Forbidden", "message": "signature"}
        if request.query.get("showDetail") != "1" or not hints:
            return 400, {"code": 11001, "title": "Invalid Parameter"}
        if len(hints) > 5:
            return 400, {"code": 7001, "title": "hintKeywords: 5개 초과"}
        if any(" " in h for h in hints):
            return 400, {"code": 11001, "title": "Invalid Parameter"}
        rows = [_row(h.upper()) for h in hints if h.upper() not in self.unknown]
        for h in hints:
            rows.extend(_row(h.upper() + s) for s in RELATED_SUFFIXES)
        return 200, {"keywordList": rows}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/keywordstool", self.keywordstool)

    def app(self) -> web.Application:
        app = web.Application()
        self.routes(app)
        return app
