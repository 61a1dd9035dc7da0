"""Naver Search Ad (검색광고) keyword tool: monthly search volumes, built to shared/naver-api.md.

``GET {base}/keywordstool?hintKeywords=a,b,c&showDetail=1``, signed per call with
HMAC-SHA256 over ``"{timestamp}.GET./keywordstool"`` (the path only, never the query). At
most 5 hints per call, none with a space (Naver answers 400): callers pass normalised hints.
Every call, retries included, first takes a slot from its own limiter (``--ad-rate``); 429 and
5xx/timeouts are retried with full-jitter backoff; 403 means the credentials or the signature
are wrong, which no retry mends.

The secret key travels only into the signature: never logged, never in an exception.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from server.model import now_ms
from server.settings import Settings
from server.work.providers.base import KeywordError, RateLimiter, RetryingClient, Transient
from server.work.providers.volume_base import (
    BELOW_VALUE,
    COMP_IDX,
    VolumeAuthError,
    VolumeRow,
    volume_row,
)

log = logging.getLogger("doccount.searchad")

KEYWORDSTOOL_PATH = "/keywordstool"
MAX_HINTS = 5
LIMITER_KEY = "searchad"


def sign(secret_key: str, timestamp_ms: str, method: str, path: str) -> str:
    """X-Signature: base64(HMAC-SHA256(secret, "{timestamp}.{method}.{path}"))."""
    message = f"{timestamp_ms}.{method}.{path}".encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def parse_count(raw: object) -> tuple[int, bool] | None:
    """(value, below) from ``monthlyPcQcCnt``-style fields: an integer, or "< 10"."""
    if type(raw) is int and raw >= 0:
        return raw, False
    if isinstance(raw, float) and raw.is_integer() and raw >= 0:
        return int(raw), False
    if isinstance(raw, str) and raw.replace(" ", "") == "<10":
        return BELOW_VALUE, True
    return None


def parse_rows(body: bytes, source: str) -> list[tuple[str, VolumeRow]]:
    """The answer's rows that have a keyword and both counts; anything else is skipped."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    rows = data.get("keywordList") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise KeywordError("검색광고 API 응답에 keywordList가 없습니다", code="bad_upstream_body")
    out: list[tuple[str, VolumeRow]] = []
    for item in rows:
        if not isinstance(item, dict):
            continue
        keyword = item.get("relKeyword")
        pc = parse_count(item.get("monthlyPcQcCnt"))
        mobile = parse_count(item.get("monthlyMobileQcCnt"))
        if not isinstance(keyword, str) or not keyword or pc is None or mobile is None:
            continue
        comp = item.get("compIdx")
        out.append(
            (
                keyword,
                volume_row(*pc, *mobile, comp if comp in COMP_IDX else None, source),
            )
        )
    return out


class SearchAdProvider(RetryingClient):
    name: str = "naver"

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        limiter: RateLimiter,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        super().__init__(settings, session, limiter, rng=rng, sleep=sleep, clock_ms=clock_ms)
        self._url = settings.ad_api_base.rstrip("/") + KEYWORDSTOOL_PATH
        self.origin = f"naver-searchad {settings.ad_api_base.rstrip('/')}"
        self.calls = 0
        self.retries = 0

    async def lookup(self, hints: list[str]) -> list[tuple[str, VolumeRow]]:
        if not 1 <= len(hints) <= MAX_HINTS:
            raise ValueError(f"1 to {MAX_HINTS} hint keywords per call, got {len(hints)}")
        if any(not h or any(ch.isspace() for ch in h) for h in hints):
            raise ValueError("hint keywords must be non-empty and have no white space")
        s = self._settings
        params = {"hintKeywords": ",".join(hints), "showDetail": "1"}
        retries = 0
        while True:
            await self._limiter.acquire(LIMITER_KEY)
            try:
                return await self._call_once(params)
            except Transient as failure:
                final = self.give_up(failure, retries, "검색광고 API")
                if final is not None:
                    log.warning(
                        "searchad %s: giving up after %d attempts (%s)",
                        ",".join(hints),
                        retries + 1,
                        failure.what,
                    )
                    raise final from None
                delay_s = await self.pause_for(failure, retries, LIMITER_KEY)
                retries += 1
                self.retries += 1
                log.info(
                    "searchad: %s; retry %d/%d in %.3fs",
                    failure.what,
                    retries,
                    s.retry_attempts,
                    delay_s,
                )
                await self._sleep(delay_s)

    def _headers(self) -> dict[str, str]:
        s = self._settings
        timestamp = str(self._clock_ms())
        return {
            "X-Timestamp": timestamp,
            "X-API-KEY": s.ad_access_license,
            "X-Customer": s.ad_customer_id,
            "X-Signature": sign(s.ad_secret_key, timestamp, "GET", KEYWORDSTOOL_PATH),
        }

    async def _call_once(self, params: dict[str, str]) -> list[tuple[str, VolumeRow]]:
        self.calls += 1
        try:
            async with self._session.get(
                self._url,
                params=params,
                headers=self._headers(),
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                status = resp.status
                body = await resp.read()
        except TimeoutError:
            raise Transient("timeout") from None
        except aiohttp.InvalidURL:
            raise VolumeAuthError(
                "검색광고 API 주소가 올바르지 않습니다 (NAVER_AD_API_BASE 설정 확인).",
                code="config_error",
            ) from None
        except aiohttp.ClientError as exc:
            raise Transient(f"connection error ({type(exc).__name__})") from None
        if 200 <= status < 300:
            return parse_rows(body, self.name)
        if status == 429:
            raise Transient("HTTP 429", rate_limited=True)
        if status >= 500:
            raise Transient(f"HTTP {status}")
        if status in (401, 403):
            raise VolumeAuthError(
                f"검색광고 API 인증 실패(HTTP {status}): NAVER_AD_CUSTOMER_ID, "
                "NAVER_AD_ACCESS_LICENSE, NAVER_AD_SECRET_KEY를 확인하세요. 검색량 없이 "
                "문서 수만 조회합니다."
            )
        detail = _message(body)
        raise KeywordError(
            f"검색광고 API가 요청을 거부했습니다(HTTP {status}){detail}", code="upstream_rejected"
        )

    async def close(self) -> None:
        """The session belongs to whoever passed it in."""


def _message(body: bytes) -> str:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("title") or data.get("message"), str):
        return ": " + str(data.get("title") or data.get("message"))[:200]
    return ""
