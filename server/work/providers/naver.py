"""The real upstream: Naver Open API search, built to shared/naver-api.md.

One ``count`` is one logical lookup. It may cost several upstream calls: keys that turn out
unusable (401/403, daily quota) are retired and the next key is tried without spending a retry;
transient failures (429/012, 5xx, timeouts, resets) are retried with exponential backoff and
full jitter. Every upstream call, retries included, first takes a slot from the rate limiter.

Secrets travel only in request headers. They are never logged, never put into an exception,
and upstream text is scrubbed of them before it is quoted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import aiohttp

from server.categories import CATEGORIES
from server.kst import format_kst, kst_day, next_kst_midnight_ms
from server.model import now_ms
from server.settings import NaverKey, Settings
from server.work.providers.base import (
    FatalProviderError,
    KeyRegistry,
    KeywordError,
    ProviderError,
    QuotaExhaustedError,
    RateLimiter,
)

log = logging.getLogger("doccount.naver")

Outcome = Literal["ok", "429", "5xx", "timeout", "auth", "other"]

_BAD_REQUEST_CODES: Mapping[str, str] = {
    "SE01": "잘못된 검색어 요청",
    "SE02": "부적절한 display 값",
    "SE03": "부적절한 start 값",
    "SE04": "부적절한 sort 값",
    "SE05": "존재하지 않는 검색 API",
    "SE06": "잘못된 형식의 인코딩",
}
_QUOTA_CODE = "010"  # daily quota spent for this Client ID
# The English reason a key is retired with when its daily quota is spent (also the registry's).
QUOTA_REASON_PREFIX = "daily quota exceeded"
_RATE_CODE = "012"  # per-second rate exceeded
_SYSTEM_ERROR_CODE = "SE99"


# The query of the start-up key check: any query costs one call; this one says who asked.
KEY_CHECK_QUERY = "doccount"


def naver_origin(settings: Settings) -> str:
    """The cache origin of counts from this upstream: another base URL is another source."""
    return f"naver {settings.naver_base_url.rstrip('/')}"


@dataclass
class NaverStats:
    """Plain counters for later metrics; updating them must stay cheaper than a log line."""

    calls: dict[tuple[str, Outcome], int] = field(default_factory=dict)  # (category, outcome)
    retries: int = 0
    calls_per_key_today: dict[str, int] = field(default_factory=dict)  # client id -> calls
    day_kst: int = 0  # the KST day calls_per_key_today counts; a new day starts from zero

    def record_call(self, client_id: str, now_ms: int) -> None:
        day = kst_day(now_ms)
        if day != self.day_kst:
            self.day_kst = day
            self.calls_per_key_today = {}
        self.calls_per_key_today[client_id] = self.calls_per_key_today.get(client_id, 0) + 1

    def record_outcome(self, category: str, outcome: Outcome) -> None:
        slot = (category, outcome)
        self.calls[slot] = self.calls.get(slot, 0) + 1


class _Transient(Exception):
    """Worth retrying after a pause. ``what`` says what happened, for people."""

    def __init__(self, what: str, *, rate_limited: bool = False) -> None:
        super().__init__(what)
        self.what = what
        self.rate_limited = rate_limited


# A key refused twice (401/403) rests this long, then real calls try it again: a key whose
# credentials were fixed, or whose refusal was the upstream's mistake, comes back by itself.
AUTH_RECHECK_S = 600.0


class _KeyUnusable(Exception):
    """This key cannot serve calls (auth, or quota until ``until_ms``); another key may."""

    def __init__(self, reason: str, reason_ko: str, until_ms: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reason_ko = reason_ko
        self.until_ms = until_ms


class NaverProvider:
    name: str = "naver"

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        limiter: RateLimiter,
        keys: KeyRegistry,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._settings = settings
        self._session = session
        self._limiter = limiter
        self._keys = keys
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep
        self._clock_ms = clock_ms
        self._timeout = aiohttp.ClientTimeout(total=settings.request_timeout_s)
        self._turn = 0  # round-robin position over the usable keys
        self._secrets = tuple(k.client_secret for k in settings.naver_keys if k.client_secret)
        self.stats = NaverStats()
        self.origin = naver_origin(settings)

    async def count(self, keyword: str, category: str) -> int:
        cat = CATEGORIES.get(category)
        if cat is None:
            raise KeywordError(f"알 수 없는 카테고리: {category}", code="bad_request")
        s = self._settings
        url = s.naver_path_template.format(base=s.naver_base_url.rstrip("/"), api=cat.api)
        params = {"query": keyword, "display": "1"}
        lost: dict[str, str] = {}  # client id -> why it dropped out during this lookup
        quota_lost: dict[str, int] = {}  # of those, the ones whose daily quota is spent -> until
        confirming: set[str] = set()  # keys refused once (auth) during this lookup
        again: NaverKey | None = None  # the key to call once more, to confirm a refusal
        retries = 0
        while True:
            key = again if again is not None else await self._pick_key(lost, quota_lost)
            again = None
            await self._limiter.acquire(key.client_id)
            try:
                return await self._call_once(key, url, params, category)
            except _KeyUnusable as gone:
                until_ms = gone.until_ms
                if until_ms is None:
                    # One 401/403 may be the upstream's hiccup: retire only when a second call
                    # confirms it, and then until a re-check, never for good.
                    if key.client_id not in confirming:
                        confirming.add(key.client_id)
                        again = key
                        log.warning(
                            "naver key %s refused (%s); calling once more before retiring it",
                            key.label,
                            gone.reason,
                        )
                        continue
                    until_ms = self._clock_ms() + int(AUTH_RECHECK_S * 1000)
                lost[key.client_id] = gone.reason_ko
                if gone.reason.startswith(QUOTA_REASON_PREFIX):
                    quota_lost[key.client_id] = until_ms
                await self._keys.retire(key.client_id, until_ms, gone.reason)
                left = sum(1 for k in s.naver_keys if k.client_id not in lost)
                log.warning(
                    "naver key %s retired (%s)%s; %s",
                    key.label,
                    gone.reason,
                    f" until {format_kst(until_ms)}",
                    "trying the next key" if left else "no other key to try",
                )
            except _Transient as failure:
                if retries >= s.retry_attempts:
                    log.warning(
                        "naver %s %r: giving up after %d attempts (%s)",
                        category,
                        keyword,
                        retries + 1,
                        failure.what,
                    )
                    code = "rate_limited" if failure.rate_limited else "upstream_unavailable"
                    raise KeywordError(
                        f"네이버 API 일시 오류로 {retries + 1}회 시도 후 실패: {failure.what}",
                        code=code,
                    ) from None
                delay_s = self.backoff_s(retries)
                retries += 1
                self.stats.retries += 1
                if failure.rate_limited:
                    # Slow every caller on this key, not just this one.
                    await self._limiter.penalize(key.client_id, delay_s)
                log.info(
                    "naver %s %r: %s on key %s; retry %d/%d in %.3fs",
                    category,
                    keyword,
                    failure.what,
                    key.label,
                    retries,
                    s.retry_attempts,
                    delay_s,
                )
                await self._sleep(delay_s)

    async def close(self) -> None:
        """The session belongs to whoever passed it in; nothing of ours to release."""

    def backoff_s(self, retry_index: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**i)], so herds of retries spread out."""
        s = self._settings
        cap_s = min(s.retry_max_s, s.retry_base_s * (2**retry_index))
        return self._rng.uniform(0.0, cap_s)

    async def _pick_key(
        self, lost: Mapping[str, str], quota_lost: Mapping[str, int] | None = None
    ) -> NaverKey:
        configured = self._settings.naver_keys
        if not configured:
            raise FatalProviderError(
                "네이버 API 키가 설정되지 않았습니다 "
                "(NAVER_CLIENT_ID/NAVER_CLIENT_SECRET 또는 NAVER_API_KEYS).",
                code="config_error",
            )
        retired = await self._keys.retired()
        pool = [k for k in configured if k.client_id not in retired and k.client_id not in lost]
        if not pool:
            message = self._no_key_message(lost, retired)
            until_ms = await self._quota_until(lost, quota_lost or {}, retired)
            if until_ms is not None:
                raise QuotaExhaustedError(message, until_ms)
            raise FatalProviderError(message, code="no_usable_key")
        key = pool[self._turn % len(pool)]
        self._turn += 1
        return key

    async def _quota_until(
        self,
        lost: Mapping[str, str],
        quota_lost: Mapping[str, int],
        retired: Mapping[str, int | None],
    ) -> int | None:
        """When every key is out only because its daily quota is spent: when the first comes
        back (the next midnight KST). None when any key is out for another reason (auth): then
        waiting for midnight would not help."""
        if any(k not in quota_lost for k in lost):
            return None
        comes_back = list(quota_lost.values())
        earlier = [k.client_id for k in self._settings.naver_keys if k.client_id not in lost]
        for client_id in earlier:
            until_ms = retired.get(client_id)
            if until_ms is None:  # out for good, or not out at all: not a quota wait
                return None
            comes_back.append(until_ms)
        if earlier:
            reasons = await self._keys.reasons()
            if not all(reasons.get(k, "").startswith(QUOTA_REASON_PREFIX) for k in earlier):
                return None
        return min(comes_back) if comes_back else None

    async def unusable(self) -> str | None:
        """None while some key may serve, now or after the daily reset (every key spent only
        for today: a job waits for midnight KST, see quota_resets_at); else why none can
        (Korean, names keys by label)."""
        retired = await self._keys.retired()
        if any(k.client_id not in retired for k in self._settings.naver_keys):
            return None
        if await self._quota_until({}, {}, retired) is not None:
            return None
        return self._no_key_message({}, retired)

    async def quota_resets_at(self) -> int | None:
        """When every key is out only because its daily quota is spent: when the first comes
        back (the same rule as a job that runs out mid-way). None otherwise."""
        retired = await self._keys.retired()
        if any(k.client_id not in retired for k in self._settings.naver_keys):
            return None
        return await self._quota_until({}, {}, retired)

    async def check_keys(self) -> list[str]:
        """At start: one cheap call per key not already retired (it counts against the key's
        quota like any call). A key Naver rejects (401/403) or whose daily quota is spent is
        retired now, not by the first job. Returns the labels of the keys retired here; a key
        that could not be checked (timeout, 5xx) is kept."""
        s = self._settings
        url = s.naver_path_template.format(base=s.naver_base_url.rstrip("/"), api="blog")
        params = {"query": KEY_CHECK_QUERY, "display": "1"}
        retired = await self._keys.retired()
        rejected: list[str] = []
        for key in s.naver_keys:
            if key.client_id in retired:
                log.warning("naver key %s is retired (until %s); not checked", key.label,
                            "for good" if retired[key.client_id] is None
                            else format_kst(retired[key.client_id] or 0))  # fmt: skip
                continue
            await self._limiter.acquire(key.client_id)
            try:
                await self._call_once(key, url, params, "blog")
            except _KeyUnusable as gone:
                await self._keys.retire(key.client_id, gone.until_ms, gone.reason)
                rejected.append(key.label)
                log.error(
                    "naver key %s rejected at start (%s)%s: retired",
                    key.label,
                    gone.reason,
                    "" if gone.until_ms is None else f" until {format_kst(gone.until_ms)}",
                )
            except _Transient as failure:
                log.warning("naver key %s not checked at start (%s); kept", key.label,
                            failure.what)  # fmt: skip
            except ProviderError as exc:  # answered, but not about the key: the key works
                log.warning("naver key %s: start-up check answered %s (%s)", key.label,
                            exc.code, exc)  # fmt: skip
            else:
                log.info("naver key %s: ok", key.label)
        return rejected

    def _no_key_message(self, lost: Mapping[str, str], retired: Mapping[str, int | None]) -> str:
        parts: list[str] = []
        for k in self._settings.naver_keys:
            if k.client_id in lost:
                parts.append(f"{k.label} {lost[k.client_id]}")
            elif k.client_id in retired:
                until_ms = retired[k.client_id]
                if until_ms is None:
                    parts.append(f"{k.label} 사용 중지됨(인증 실패 또는 권한 없음)")
                else:
                    until = format_kst(until_ms)
                    parts.append(f"{k.label} {until}까지 사용 중지됨(일일 한도 또는 인증 실패)")
        return "사용 가능한 네이버 API 키가 없습니다: " + "; ".join(parts)

    async def _call_once(
        self, key: NaverKey, url: str, params: Mapping[str, str], category: str
    ) -> int:
        s = self._settings
        headers = {s.naver_id_header: key.client_id, s.naver_secret_header: key.client_secret}
        now_ms = self._clock_ms()
        self.stats.record_call(key.client_id, now_ms)
        # Shared by every worker on the store, for the per-key daily quota figures.
        await self._keys.record_call(key.client_id, kst_day(now_ms))
        try:
            # No redirects: following one would hand the secret header to another location.
            async with self._session.get(
                url, params=params, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as resp:
                status = resp.status
                body = await resp.read()
        except TimeoutError:  # also aiohttp.ServerTimeoutError and its kin
            self.stats.record_outcome(category, "timeout")
            raise _Transient("timeout") from None
        except aiohttp.InvalidURL:
            self.stats.record_outcome(category, "other")
            raise FatalProviderError(
                "네이버 API 주소가 올바르지 않습니다 (NAVER_API_BASE 설정 확인).",
                code="config_error",
            ) from None
        except aiohttp.ClientError as exc:  # resets, refused, truncated bodies, ...
            self.stats.record_outcome(category, "other")
            raise _Transient(f"connection error ({type(exc).__name__})") from None
        return self._interpret(key, status, body, category)

    def _interpret(self, key: NaverKey, status: int, body: bytes, category: str) -> int:
        if 200 <= status < 300:
            total = self._parse_total(body, category)
            self.stats.record_outcome(category, "ok")
            return total
        error_code, upstream_msg = _error_envelope(body)
        shown = f"HTTP {status}" + (f" {error_code}" if error_code else "")
        if status == 429:
            self.stats.record_outcome(category, "429")
            if error_code == _QUOTA_CODE:
                until_ms = next_kst_midnight_ms(self._clock_ms())
                raise _KeyUnusable(
                    f"{QUOTA_REASON_PREFIX} ({shown})",
                    f"일일 호출 한도 초과({shown}), {format_kst(until_ms)}에 초기화",
                    until_ms,
                )
            # 012, or a 429 without a code we know: slowing down is the safe reading.
            raise _Transient(shown, rate_limited=True)
        if status in (401, 403):
            self.stats.record_outcome(category, "auth")
            hint = "인증 실패" if status == 401 else "API 권한 없음 또는 HTTPS가 아닌 주소"
            raise _KeyUnusable(
                f"auth failed ({shown})",
                f"{hint}({shown}) - Client ID/Secret과 검색 API 사용 설정을 확인하세요",
                None,
            )
        if status >= 500 or error_code == _SYSTEM_ERROR_CODE:
            self.stats.record_outcome(category, "5xx")
            raise _Transient(shown)
        self.stats.record_outcome(category, "other")
        if status == 404 and error_code == "SE05":
            raise FatalProviderError(
                f"네이버 검색 API 설정 오류({shown}, 존재하지 않는 검색 API): "
                f"카테고리 {category}의 주소를 확인하세요.",
                code="config_error",
            )
        if 300 <= status < 400:
            raise FatalProviderError(
                f"네이버 API가 리다이렉트로 응답했습니다({shown}): "
                "NAVER_API_BASE 설정을 확인하세요.",
                code="config_error",
            )
        what = _BAD_REQUEST_CODES.get(error_code or "")
        if status == 400 and what is not None:
            raise KeywordError(
                f"네이버 API가 요청을 거부했습니다: {what}({shown})",
                code="bad_request",
            )
        detail = f": {self._scrub(upstream_msg)[:200]}" if upstream_msg else ""
        raise KeywordError(
            f"네이버 API가 요청을 거부했습니다({shown}){detail}", code="upstream_rejected"
        )

    def _parse_total(self, body: bytes, category: str) -> int:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        total = data.get("total") if isinstance(data, dict) else None
        # bool is an int subclass, and a float or string total means the shape changed:
        # a count we cannot trust is an error, never a zero.
        if type(total) is not int or total < 0:
            self.stats.record_outcome(category, "other")
            got = "no JSON object" if not isinstance(data, dict) else f"total={total!r}"
            raise KeywordError(
                f"네이버 응답에 정수 total이 없습니다({self._scrub(got)[:100]})",
                code="bad_upstream_body",
            )
        return total

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _error_envelope(body: bytes) -> tuple[str | None, str | None]:
    """(errorCode, errorMessage) from Naver's error JSON, or Nones when the body is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = data.get("errorCode")
    msg = data.get("errorMessage")
    return (
        str(code) if isinstance(code, str | int) and not isinstance(code, bool) else None,
        msg if isinstance(msg, str) else None,
    )
