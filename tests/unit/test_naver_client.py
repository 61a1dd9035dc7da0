"""NaverProvider against shared/naver-api.md: request shape, every error row, keys, backoff."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

from server.kst import next_kst_midnight_ms
from server.settings import NaverKey, Settings
from server.store import sqlite_limits
from server.store.sqlite_limits import LocalKeyRegistry, LocalRateLimiter
from server.work.providers import make_provider
from server.work.providers.base import FatalProviderError, KeywordError
from server.work.providers.demo import DemoProvider, demo_count
from server.work.providers.naver import AUTH_RECHECK_S, NaverProvider, NaverStats
from tests.support.aiohttp_compat import CompatClientResponse

BASE = "https://openapi.naver.com/v1/search"
KEY_A = NaverKey("idAAAA-1111", "sek-A-9f8e7d6c")
KEY_B = NaverKey("idBBBB-2222", "sek-B-1a2b3c4d")
SECRETS = (KEY_A.client_secret, KEY_B.client_secret)
# 2024-05-01 23:59:59.999 KST: one millisecond before the daily quota resets.
NOW_MS = 1714575599999
NEXT_KST_MIDNIGHT_MS = 1714575600000  # 2024-05-02 00:00:00.000 KST

SAMPLE_BODY = {
    "lastBuildDate": "Mon, 26 Sep 2016 11:01:35 +0900",
    "total": 2566589,
    "start": 1,
    "display": 1,
    "items": [{"title": "<b>리뷰</b>", "link": "https://blog.naver.com/x", "postdate": "20161208"}],
}


def settings(**changes: Any) -> Settings:
    base = dataclasses.replace(
        Settings(),
        provider="naver",
        naver_keys=(KEY_A, KEY_B),
        naver_base_url=BASE,
        retry_attempts=3,
        retry_base_s=0.001,
        retry_max_s=0.004,
        request_timeout_s=2.0,
    )
    return dataclasses.replace(base, **changes)


def api_url(api: str = "blog") -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(BASE)}/{api}\.json\?.*$")


def reply(m: aioresponses, status: int = 200, payload: Any = None, **kw: Any) -> None:
    """Queue one upstream answer for the blog api (``api=`` for another)."""
    api = kw.pop("api", "blog")
    if payload is None and "body" not in kw and "exception" not in kw:
        payload = SAMPLE_BODY if status == 200 else {}
    m.get(api_url(api), status=status, payload=payload, response_class=CompatClientResponse, **kw)


def error(m: aioresponses, status: int, code: str, message: str = "error") -> None:
    reply(m, status, {"errorMessage": message, "errorCode": code})


def sent(m: aioresponses) -> list[tuple[str, dict[str, Any]]]:
    """Every upstream call in order, as (url, kwargs)."""
    calls = [(str(url), c.kwargs) for (_, url), cs in m.requests.items() for c in cs]
    return calls


def sent_ids(m: aioresponses) -> list[str]:
    return [kw["headers"]["X-Naver-Client-Id"] for _, kw in sent(m)]


class RecordingLimiter:
    def __init__(self) -> None:
        self.acquired: list[str] = []
        self.penalties: list[tuple[str, float]] = []

    async def acquire(self, key: str) -> float:
        self.acquired.append(key)
        return 0.0

    async def penalize(self, key: str, delay_s: float) -> None:
        self.penalties.append((key, delay_s))


class RecordingKeys:
    """A KeyRegistry on the test's fixed clock, recording every retirement."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.retirements: list[tuple[str, int | None, str]] = []
        self.until_ms: dict[str, int | None] = {}
        self.calls: dict[tuple[str, int], int] = {}

    async def retire(self, key: str, until_ms: int | None, reason: str) -> None:
        self.retirements.append((key, until_ms, reason))
        self.until_ms[key] = until_ms

    async def retired(self) -> dict[str, int | None]:
        now_ms = self.clock()
        return {k: u for k, u in self.until_ms.items() if u is None or u > now_ms}

    async def record_call(self, key: str, day: int) -> None:
        self.calls[(key, day)] = self.calls.get((key, day), 0) + 1

    async def calls_on(self, day: int) -> dict[str, int]:
        return {k: n for (k, d), n in self.calls.items() if d == day}


class FixedClock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


class Sleeps:
    def __init__(self) -> None:
        self.delays_s: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays_s.append(delay_s)


class Rig:
    def __init__(self, session: aiohttp.ClientSession, cfg: Settings, seed: int = 7) -> None:
        self.cfg = cfg
        self.seed = seed
        self.clock = FixedClock(NOW_MS)
        self.limiter = RecordingLimiter()
        self.keys = RecordingKeys(self.clock)
        self.sleeps = Sleeps()
        self.provider = NaverProvider(
            cfg,
            session,
            self.limiter,
            self.keys,
            rng=random.Random(seed),
            sleep=self.sleeps,
            clock_ms=self.clock,
        )

    def expected_delays_s(self, n: int) -> list[float]:
        """The full-jitter delays the provider must have drawn, replayed from the same seed."""
        rng = random.Random(self.seed)
        caps = [min(self.cfg.retry_max_s, self.cfg.retry_base_s * 2**i) for i in range(n)]
        return [rng.uniform(0.0, cap) for cap in caps]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def rig(session: aiohttp.ClientSession) -> Rig:
    return Rig(session, settings())


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


# --- request shape -------------------------------------------------------------------------


async def test_request_shape_korean_query_display_headers(rig: Rig, mocked: aioresponses) -> None:
    reply(mocked)
    assert await rig.provider.count("리뷰", "blog") == 2566589
    [(url, kw)] = sent(mocked)
    # aioresponses sorts the query; the exact wire order is checked on a real server below.
    assert url == f"{BASE}/blog.json?display=1&query=%EB%A6%AC%EB%B7%B0"
    assert kw["params"] == {"query": "리뷰", "display": "1"}
    assert kw["headers"] == {
        "X-Naver-Client-Id": KEY_A.client_id,
        "X-Naver-Client-Secret": KEY_A.client_secret,
    }
    assert kw["timeout"].total == 2.0
    assert kw["allow_redirects"] is False
    assert rig.limiter.acquired == [KEY_A.client_id]


async def test_wire_bytes_on_a_real_server(aiohttp_server: Any) -> None:
    """aioresponses shows the URL it built; a real server shows what aiohttp puts on the wire."""
    seen: list[tuple[str, str | None, str | None]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(
            (
                request.raw_path,
                request.headers.get("X-Naver-Client-Id"),
                request.headers.get("X-Naver-Client-Secret"),
            )
        )
        return web.json_response(SAMPLE_BODY)

    app = web.Application()
    app.router.add_get("/v1/search/{api}", handler)
    server = await aiohttp_server(app)
    cfg = settings(naver_base_url=str(server.make_url("/v1/search")))
    async with aiohttp.ClientSession() as s:
        assert await Rig(s, cfg).provider.count("리뷰", "cafe") == 2566589
    assert seen == [
        (
            "/v1/search/cafearticle.json?query=%EB%A6%AC%EB%B7%B0&display=1",
            KEY_A.client_id,
            KEY_A.client_secret,
        )
    ]


async def test_configurable_path_template_and_headers(
    session: aiohttp.ClientSession, mocked: aioresponses
) -> None:
    """The API HUB move: other host, /search/v1/{api} paths, other header names."""
    cfg = settings(
        naver_base_url="https://hub.example/search/v1",
        naver_path_template="{base}/{api}",
        naver_id_header="X-Hub-Id",
        naver_secret_header="X-Hub-Secret",
    )
    mocked.get(
        re.compile(r"^https://hub\.example/search/v1/webkr\?.*$"),
        payload={"total": 5},
        response_class=CompatClientResponse,
    )
    assert await Rig(session, cfg).provider.count("a b", "web") == 5
    [(url, kw)] = sent(mocked)
    assert url == "https://hub.example/search/v1/webkr?display=1&query=a+b"
    assert kw["headers"] == {"X-Hub-Id": KEY_A.client_id, "X-Hub-Secret": KEY_A.client_secret}


@pytest.mark.parametrize(
    ("category", "api"),
    [("blog", "blog"), ("cafe", "cafearticle"), ("news", "news"), ("web", "webkr")],
)
async def test_category_maps_to_upstream_api(
    rig: Rig, mocked: aioresponses, category: str, api: str
) -> None:
    reply(mocked, payload={"total": 42}, api=api)
    assert await rig.provider.count("x", category) == 42


async def test_unknown_category_is_a_keyword_error_without_a_call(
    rig: Rig, mocked: aioresponses
) -> None:
    with pytest.raises(KeywordError) as ei:
        await rig.provider.count("x", "adult")
    assert ei.value.code == "bad_request"
    assert sent(mocked) == []


# --- total parsing -------------------------------------------------------------------------


async def test_total_zero_is_a_real_zero(rig: Rig, mocked: aioresponses) -> None:
    reply(mocked, payload={"total": 0, "items": []})
    assert await rig.provider.count("zzqx", "blog") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"total": "2566589"},
        {"total": 12.0},
        {"total": True},
        {"total": None},
        {"total": -1},
        {"items": []},
        [1, 2],
        "<html>maintenance</html>",
        "",
    ],
    ids=["string", "float", "bool", "null", "negative", "missing", "list", "html", "empty"],
)
async def test_total_that_is_not_an_int_is_an_error_never_zero(
    rig: Rig, mocked: aioresponses, body: Any
) -> None:
    if isinstance(body, str):
        reply(mocked, body=body, content_type="text/html")
    else:
        reply(mocked, payload=body)
    with pytest.raises(KeywordError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "bad_upstream_body"
    assert "total" in str(ei.value)
    assert len(sent(mocked)) == 1
    assert rig.sleeps.delays_s == []


# --- error table ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["SE01", "SE02", "SE03", "SE04", "SE05", "SE06"])
async def test_400_se_codes_are_keyword_errors_without_retry(
    rig: Rig, mocked: aioresponses, code: str
) -> None:
    error(mocked, 400, code, "Incorrect query request (잘못된 쿼리요청입니다.)")
    with pytest.raises(KeywordError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "bad_request"
    assert f"HTTP 400 {code}" in str(ei.value)
    assert len(sent(mocked)) == 1
    assert rig.sleeps.delays_s == []
    assert rig.keys.retirements == []


@pytest.mark.parametrize(
    ("status", "payload"),
    [(400, {"errorCode": "SE77", "errorMessage": "new"}), (400, {}), (409, {}), (418, {})],
)
async def test_unknown_4xx_is_a_keyword_error_without_retry(
    rig: Rig, mocked: aioresponses, status: int, payload: dict[str, str]
) -> None:
    reply(mocked, status, payload)
    with pytest.raises(KeywordError) as ei:
        await rig.provider.count("x", "blog")
    assert type(ei.value) is KeywordError
    assert ei.value.code == "upstream_rejected"
    assert f"HTTP {status}" in str(ei.value)
    assert len(sent(mocked)) == 1
    assert rig.keys.retirements == []


async def test_404_se05_is_a_fatal_config_error(rig: Rig, mocked: aioresponses) -> None:
    error(mocked, 404, "SE05", "Invalid Search Api (존재하지 않는 검색 api 입니다.)")
    with pytest.raises(FatalProviderError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "config_error"
    assert "HTTP 404 SE05" in str(ei.value)
    assert len(sent(mocked)) == 1
    assert rig.sleeps.delays_s == []


async def test_redirect_is_not_followed_and_is_a_config_error(
    rig: Rig, mocked: aioresponses
) -> None:
    reply(mocked, 301, {}, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(FatalProviderError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "config_error"
    assert len(sent(mocked)) == 1


@pytest.mark.parametrize(
    ("status", "payload", "shown"),
    [
        (401, {"errorMessage": "Authentication failed", "errorCode": "024"}, "HTTP 401 024"),
        (401, {"errorMessage": "Not Exist Client ID", "errorCode": "028"}, "HTTP 401 028"),
        (401, {}, "HTTP 401"),
        (403, {}, "HTTP 403"),
        (403, {"errorMessage": "Scope Status Invalid", "errorCode": "024"}, "HTTP 403 024"),
    ],
)  # fmt: skip
async def test_auth_failure_retires_key_once_confirmed_and_uses_the_next(
    rig: Rig, mocked: aioresponses, status: int, payload: dict[str, str], shown: str
) -> None:
    reply(mocked, status, payload)
    reply(mocked, status, payload)  # the confirming call
    reply(mocked, payload={"total": 9})
    assert await rig.provider.count("x", "blog") == 9
    assert sent_ids(mocked) == [KEY_A.client_id, KEY_A.client_id, KEY_B.client_id]
    until_ms = NOW_MS + int(AUTH_RECHECK_S * 1000)
    assert rig.keys.retirements == [(KEY_A.client_id, until_ms, f"auth failed ({shown})")]
    assert rig.limiter.acquired == [KEY_A.client_id, KEY_A.client_id, KEY_B.client_id]
    assert rig.sleeps.delays_s == []  # rotation is not a retry
    assert rig.provider.stats.retries == 0
    # The retired key stays out of later lookups...
    reply(mocked, payload={"total": 10})
    assert await rig.provider.count("y", "blog") == 10
    assert sent_ids(mocked)[-1] == KEY_B.client_id
    # ...until its re-check is due: then real calls try it again, and it is back if it works.
    rig.clock.now_ms = until_ms
    reply(mocked, payload={"total": 11})
    reply(mocked, payload={"total": 12})
    assert await rig.provider.count("z", "blog") == 11
    assert await rig.provider.count("w", "blog") == 12
    assert sorted(sent_ids(mocked)[-2:]) == [KEY_A.client_id, KEY_B.client_id]


async def test_one_spurious_auth_failure_retires_nothing(rig: Rig, mocked: aioresponses) -> None:
    reply(mocked, 401, {"errorCode": "024"})
    reply(mocked, payload={"total": 5})  # the confirming call succeeds
    assert await rig.provider.count("x", "blog") == 5
    assert sent_ids(mocked) == [KEY_A.client_id, KEY_A.client_id]
    assert rig.keys.retirements == []


async def test_auth_failure_on_every_key_is_fatal_with_a_readable_message(
    rig: Rig, mocked: aioresponses
) -> None:
    error(mocked, 401, "024", "Authentication failed (인증에 실패하였습니다.)")
    error(mocked, 401, "024", "Authentication failed (인증에 실패하였습니다.)")
    reply(mocked, 403, {})
    reply(mocked, 403, {})
    with pytest.raises(FatalProviderError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "no_usable_key"
    assert str(ei.value) == (
        "사용 가능한 네이버 API 키가 없습니다: "
        "idAA… 인증 실패(HTTP 401 024) - Client ID/Secret과 검색 API 사용 설정을 확인하세요; "
        "idBB… API 권한 없음 또는 HTTPS가 아닌 주소(HTTP 403) - "
        "Client ID/Secret과 검색 API 사용 설정을 확인하세요"
    )
    recheck_ms = NOW_MS + int(AUTH_RECHECK_S * 1000)
    assert [r[:2] for r in rig.keys.retirements] == [
        (KEY_A.client_id, recheck_ms),
        (KEY_B.client_id, recheck_ms),
    ]


async def test_keys_already_retired_are_skipped_and_explained(
    rig: Rig, mocked: aioresponses
) -> None:
    await rig.keys.retire(KEY_A.client_id, None, "auth failed (HTTP 401 024)")
    await rig.keys.retire(KEY_B.client_id, NEXT_KST_MIDNIGHT_MS, "daily quota exceeded")
    with pytest.raises(FatalProviderError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "no_usable_key"
    assert str(ei.value) == (
        "사용 가능한 네이버 API 키가 없습니다: idAA… 사용 중지됨(인증 실패 또는 권한 없음); "
        "idBB… 2024-05-02 00:00 KST까지 사용 중지됨(일일 한도 또는 인증 실패)"
    )
    assert sent(mocked) == []
    # Once the quota resets, the key is back in the pool.
    rig.clock.now_ms = NEXT_KST_MIDNIGHT_MS
    reply(mocked, payload={"total": 3})
    assert await rig.provider.count("x", "blog") == 3
    assert sent_ids(mocked) == [KEY_B.client_id]


async def test_no_keys_configured_is_a_config_error(
    session: aiohttp.ClientSession, mocked: aioresponses
) -> None:
    with pytest.raises(FatalProviderError) as ei:
        await Rig(session, settings(naver_keys=())).provider.count("x", "blog")
    assert ei.value.code == "config_error"


async def test_429_012_penalizes_the_limiter_and_retries(rig: Rig, mocked: aioresponses) -> None:
    error(mocked, 429, "012", "Rate limit exceeded. (속도 제한을 초과했습니다.)")
    reply(mocked, payload={"total": 77})
    assert await rig.provider.count("x", "blog") == 77
    [delay_s] = rig.expected_delays_s(1)
    assert rig.limiter.penalties == [(KEY_A.client_id, delay_s)]
    assert rig.sleeps.delays_s == [delay_s]
    assert rig.limiter.acquired == [KEY_A.client_id, KEY_B.client_id]
    assert rig.keys.retirements == []
    assert rig.provider.stats.retries == 1


async def test_429_012_exhausted_is_rate_limited(rig: Rig, mocked: aioresponses) -> None:
    for _ in range(4):
        error(mocked, 429, "012")
    with pytest.raises(KeywordError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "rate_limited"
    assert str(ei.value) == "네이버 API 일시 오류로 4회 시도 후 실패: HTTP 429 012"
    delays_s = rig.expected_delays_s(3)
    assert rig.sleeps.delays_s == delays_s
    assert rig.limiter.penalties == [
        (KEY_A.client_id, delays_s[0]),
        (KEY_B.client_id, delays_s[1]),
        (KEY_A.client_id, delays_s[2]),
    ]
    assert len(sent(mocked)) == 4  # retry_attempts=3 retries after the first call


async def test_429_010_retires_key_until_next_kst_midnight_and_rotates(
    rig: Rig, mocked: aioresponses
) -> None:
    error(mocked, 429, "010", "Query limit exceeded")
    reply(mocked, payload={"total": 5})
    assert await rig.provider.count("x", "blog") == 5
    assert rig.keys.retirements == [
        (KEY_A.client_id, NEXT_KST_MIDNIGHT_MS, "daily quota exceeded (HTTP 429 010)")
    ]
    assert sent_ids(mocked) == [KEY_A.client_id, KEY_B.client_id]
    assert rig.sleeps.delays_s == []  # moving on to another key is not a retry
    assert rig.limiter.penalties == []
    assert rig.provider.stats.retries == 0


async def test_429_010_does_not_consume_retries(rig: Rig, mocked: aioresponses) -> None:
    error(mocked, 429, "010")
    for _ in range(3):
        reply(mocked, 500, {"errorCode": "SE99"})
    reply(mocked, payload={"total": 8})
    # 1 quota rotation + 3 failures + success: all 3 retries still available after the rotation.
    assert await rig.provider.count("x", "blog") == 8
    assert len(rig.sleeps.delays_s) == 3


async def test_429_010_on_every_key_is_fatal_with_quota_message(
    rig: Rig, mocked: aioresponses
) -> None:
    error(mocked, 429, "010")
    error(mocked, 429, "010")
    with pytest.raises(FatalProviderError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "no_usable_key"
    assert str(ei.value) == (
        "사용 가능한 네이버 API 키가 없습니다: "
        "idAA… 일일 호출 한도 초과(HTTP 429 010), 2024-05-02 00:00 KST에 초기화; "
        "idBB… 일일 호출 한도 초과(HTTP 429 010), 2024-05-02 00:00 KST에 초기화"
    )


@pytest.mark.parametrize(
    ("now_ms", "expected_ms"),
    [
        (NOW_MS, NEXT_KST_MIDNIGHT_MS),  # 23:59:59.999 KST
        (NEXT_KST_MIDNIGHT_MS, NEXT_KST_MIDNIGHT_MS + 86_400_000),  # exactly midnight KST
        (1714608000000, NEXT_KST_MIDNIGHT_MS + 86_400_000),  # 2024-05-02 00:00 UTC = 09:00 KST
        (0, 54_000_000),  # 1970-01-01 09:00 KST -> next day 00:00 KST = 15:00 UTC
    ],
)
def test_next_kst_midnight_ms(now_ms: int, expected_ms: int) -> None:
    assert next_kst_midnight_ms(now_ms) == expected_ms


@pytest.mark.parametrize(
    ("status", "payload", "shown"),
    [
        (500, {"errorMessage": "System Error", "errorCode": "SE99"}, "HTTP 500 SE99"),
        (502, {}, "HTTP 502"),
        (503, {}, "HTTP 503"),
        (504, {}, "HTTP 504"),
    ],
)
async def test_5xx_is_retried_then_succeeds(
    rig: Rig, mocked: aioresponses, status: int, payload: dict[str, str], shown: str
) -> None:
    reply(mocked, status, payload)
    reply(mocked, status, payload)
    reply(mocked, payload={"total": 11})
    assert await rig.provider.count("x", "blog") == 11
    assert rig.sleeps.delays_s == rig.expected_delays_s(2)
    assert rig.limiter.penalties == []  # only 012 slows the key
    assert rig.provider.stats.retries == 2


async def test_5xx_exhausted_is_upstream_unavailable(rig: Rig, mocked: aioresponses) -> None:
    for _ in range(4):
        error(mocked, 500, "SE99", "System Error")
    with pytest.raises(KeywordError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "upstream_unavailable"
    assert str(ei.value) == "네이버 API 일시 오류로 4회 시도 후 실패: HTTP 500 SE99"
    assert len(sent(mocked)) == 4
    assert rig.limiter.acquired == [KEY_A.client_id, KEY_B.client_id] * 2


async def test_se99_is_retried_whatever_the_status(rig: Rig, mocked: aioresponses) -> None:
    error(mocked, 400, "SE99")
    reply(mocked, payload={"total": 1})
    assert await rig.provider.count("x", "blog") == 1
    assert len(rig.sleeps.delays_s) == 1


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError(),
        aiohttp.ServerTimeoutError("read timeout"),
        aiohttp.ConnectionTimeoutError("connect timeout"),
    ],
    ids=["builtin", "server", "connect"],
)
async def test_timeouts_are_retried(rig: Rig, mocked: aioresponses, exc: Exception) -> None:
    reply(mocked, exception=exc)
    reply(mocked, payload={"total": 4})
    assert await rig.provider.count("x", "blog") == 4
    assert rig.sleeps.delays_s == rig.expected_delays_s(1)
    assert rig.provider.stats.calls[("blog", "timeout")] == 1


async def test_timeouts_exhausted_say_timeout(rig: Rig, mocked: aioresponses) -> None:
    for _ in range(4):
        reply(mocked, exception=TimeoutError())
    with pytest.raises(KeywordError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "upstream_unavailable"
    assert str(ei.value) == "네이버 API 일시 오류로 4회 시도 후 실패: timeout"


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ClientConnectionError("Connection refused"),
        aiohttp.ClientConnectionResetError("Connection reset by peer"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("Response payload is not completed"),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
    ],
    ids=["refused", "reset", "disconnected", "payload", "oserror"],
)
async def test_connection_errors_are_retried(
    rig: Rig, mocked: aioresponses, exc: Exception
) -> None:
    reply(mocked, exception=exc)
    reply(mocked, payload={"total": 6})
    assert await rig.provider.count("x", "blog") == 6
    assert rig.sleeps.delays_s == rig.expected_delays_s(1)


async def test_connection_errors_exhausted_say_what_happened(
    rig: Rig, mocked: aioresponses
) -> None:
    for _ in range(4):
        reply(mocked, exception=aiohttp.ClientConnectionResetError("reset"))
    with pytest.raises(KeywordError) as ei:
        await rig.provider.count("x", "blog")
    assert ei.value.code == "upstream_unavailable"
    assert str(ei.value) == (
        "네이버 API 일시 오류로 4회 시도 후 실패: connection error (ClientConnectionResetError)"
    )


async def test_real_timeout_is_enforced_and_retried(aiohttp_server: Any) -> None:
    """request_timeout_s reaches the wire: a server that stalls once costs one retry."""
    release = asyncio.Event()
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()
        return web.json_response({"total": 21})

    app = web.Application()
    app.router.add_get("/v1/search/{api}", handler)
    server = await aiohttp_server(app)
    # 0.5 s: far below the 10 s default, yet long enough that the retry's loopback answer
    # is not cut too on a loaded machine.
    cfg = settings(naver_base_url=str(server.make_url("/v1/search")), request_timeout_s=0.5)
    async with aiohttp.ClientSession() as s:
        rig = Rig(s, cfg)
        started = time.monotonic()
        assert await rig.provider.count("x", "blog") == 21
        elapsed_s = time.monotonic() - started
    release.set()
    assert calls == 2
    assert rig.provider.stats.calls[("blog", "timeout")] == 1
    # The 0.5 s timeout, not the 10 s default, cut the stalled call; the upper bound leaves a
    # loaded machine seconds for the retry, still far below the default.
    assert 0.45 <= elapsed_s < 5.0


# --- backoff -------------------------------------------------------------------------------


class TopOfRange(random.Random):
    """Always draws the upper bound, exposing the backoff caps themselves."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_backoff_caps_double_and_stop_at_retry_max(
    session: aiohttp.ClientSession, mocked: aioresponses
) -> None:
    cfg = settings(retry_attempts=5, retry_base_s=0.001, retry_max_s=0.005)
    sleeps = Sleeps()
    provider = NaverProvider(
        cfg, session, RecordingLimiter(), RecordingKeys(FixedClock(NOW_MS)),
        rng=TopOfRange(), sleep=sleeps,
    )  # fmt: skip
    for _ in range(6):
        reply(mocked, 503)
    with pytest.raises(KeywordError):
        await provider.count("x", "blog")
    assert sleeps.delays_s == [0.001, 0.002, 0.004, 0.005, 0.005]


async def test_jittered_backoff_stays_within_bounds(
    session: aiohttp.ClientSession, mocked: aioresponses
) -> None:
    cfg = settings(retry_attempts=6, retry_base_s=0.001, retry_max_s=0.004)
    rig = Rig(session, cfg, seed=12345)
    for _ in range(7):
        reply(mocked, 500)
    with pytest.raises(KeywordError):
        await rig.provider.count("x", "blog")
    caps_s = [0.001, 0.002, 0.004, 0.004, 0.004, 0.004]
    assert rig.sleeps.delays_s == rig.expected_delays_s(6)
    assert all(0.0 <= d <= cap for d, cap in zip(rig.sleeps.delays_s, caps_s, strict=True))
    assert len(set(rig.sleeps.delays_s)) == 6  # jitter, not a fixed ladder


# --- keys, limiter, stats ------------------------------------------------------------------


async def test_keys_are_used_round_robin_and_every_call_acquires(
    rig: Rig, mocked: aioresponses
) -> None:
    reply(mocked, payload={"total": 1})
    reply(mocked, 500)
    reply(mocked, payload={"total": 2})
    reply(mocked, payload={"total": 3})
    assert await rig.provider.count("a", "blog") == 1
    assert await rig.provider.count("b", "blog") == 2
    assert await rig.provider.count("c", "blog") == 3
    ids = [KEY_A.client_id, KEY_B.client_id, KEY_A.client_id, KEY_B.client_id]
    assert rig.limiter.acquired == ids
    assert sent_ids(mocked) == ids


async def test_stats_count_calls_outcomes_retries_and_keys_per_day(
    rig: Rig, mocked: aioresponses
) -> None:
    reply(mocked, payload={"total": 1})
    error(mocked, 429, "012")
    reply(mocked, 500)
    reply(mocked, exception=TimeoutError())
    reply(mocked, payload={"total": 2})
    reply(mocked, 401, {"errorCode": "024"}, api="news")
    reply(mocked, 401, {"errorCode": "024"}, api="news")
    reply(mocked, payload={"total": 3}, api="news")
    assert await rig.provider.count("a", "blog") == 1
    assert await rig.provider.count("b", "blog") == 2
    assert await rig.provider.count("c", "news") == 3
    assert rig.provider.stats == NaverStats(
        calls={
            ("blog", "ok"): 2,
            ("blog", "429"): 1,
            ("blog", "5xx"): 1,
            ("blog", "timeout"): 1,
            ("news", "auth"): 2,
            ("news", "ok"): 1,
        },
        retries=3,
        calls_per_key_today={KEY_A.client_id: 4, KEY_B.client_id: 4},
        day_kst=19844,
    )
    # A new KST day starts the per-key counts from zero.
    rig.clock.now_ms = NEXT_KST_MIDNIGHT_MS
    reply(mocked, payload={"total": 4})
    await rig.provider.count("d", "blog")
    assert rig.provider.stats.calls_per_key_today == {KEY_A.client_id: 1}  # B was retired
    assert rig.provider.stats.day_kst == 19845


async def test_close_leaves_the_session_alone(rig: Rig, session: aiohttp.ClientSession) -> None:
    await rig.provider.close()
    assert not session.closed


# --- secrets -------------------------------------------------------------------------------


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


async def test_secret_never_in_exceptions_or_logs(
    rig: Rig, mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"bad secret {KEY_A.client_secret} / {KEY_B.client_secret}"
    errors: list[BaseException] = []

    scenarios: list[list[tuple[int, dict[str, str]] | Exception]] = [
        [(418, {"errorCode": "XX", "errorMessage": echo})],
        [(500, {"errorCode": "SE99", "errorMessage": echo})] * 4,
        [aiohttp.ClientConnectionResetError("reset")] * 4,
        [TimeoutError()] * 4,
        [(200, {"total": echo})],
        [(429, {"errorCode": "012", "errorMessage": echo})] * 4,
        [(401, {"errorCode": "024", "errorMessage": echo})] * 2 + [(429, {"errorCode": "010"})],
    ]
    for steps in scenarios:
        for step in steps:
            if isinstance(step, Exception):
                reply(mocked, exception=step)
            else:
                reply(mocked, step[0], step[1])
        with pytest.raises((KeywordError, FatalProviderError)) as ei:
            await rig.provider.count("x", "blog")
        errors.append(ei.value)

    assert [type(e).__name__ + ":" + getattr(e, "code", "") for e in errors] == [
        "KeywordError:upstream_rejected",
        "KeywordError:upstream_unavailable",
        "KeywordError:upstream_unavailable",
        "KeywordError:upstream_unavailable",
        "KeywordError:bad_upstream_body",
        "KeywordError:rate_limited",
        "FatalProviderError:no_usable_key",
    ]
    assert "***" in str(errors[0])  # upstream text is quoted, scrubbed
    texts = [f"{e!s} {e!r}" for err in errors for e in _chain(err)]
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.args) for r in caplog.records]
    texts += [repr(k) for k in (KEY_A, KEY_B)] + [repr(settings())]
    texts += [r for *_, r in rig.keys.retirements]
    assert caplog.records, "the scenarios above must have logged retries and retirements"
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


async def test_retry_logs_use_the_key_label(
    rig: Rig, mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="doccount.naver")
    reply(mocked, 500)
    reply(mocked, payload={"total": 1})
    await rig.provider.count("x", "blog")
    [record] = caplog.records
    assert record.name == "doccount.naver"
    assert record.levelno == logging.INFO
    assert "idAA…" in record.getMessage()
    assert KEY_A.client_id not in record.getMessage()


# --- LocalRateLimiter, DemoProvider, make_provider -----------------------------------------


@pytest.fixture
def frozen_limiter_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limiter's clock stands still (its sleeps stay real): waits are exact, whatever the
    machine's load does to the time between calls."""
    monkeypatch.setattr(sqlite_limits, "time", SimpleNamespace(monotonic=lambda: 1000.0))


async def test_local_rate_limiter_paces_each_key_fifo(frozen_limiter_clock: None) -> None:
    limiter = LocalRateLimiter(rate_per_s=50.0)  # one slot every 20 ms
    started = time.monotonic()
    waits_s = await asyncio.gather(*(limiter.acquire("k") for _ in range(5)))
    # Each waiter reserved the next slot in call order, and slept until it.
    assert waits_s == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08], abs=1e-9)
    assert time.monotonic() - started >= 0.08 - 0.002  # the loop's clock resolution
    # Another key is not held up by "k".
    assert await limiter.acquire("other") == 0.0


async def test_local_rate_limiter_penalize_pushes_the_next_slot(frozen_limiter_clock: None) -> None:
    limiter = LocalRateLimiter(rate_per_s=1000.0)
    await limiter.penalize("k", 0.05)
    await limiter.penalize("k", 0.0)  # a smaller penalty never pulls the slot earlier
    assert await limiter.acquire("k") == pytest.approx(0.05, abs=1e-9)
    assert await limiter.acquire("k") == pytest.approx(0.051, abs=1e-9)  # the next slot


async def test_local_key_registry_forgets_expired_retirements() -> None:
    keys = LocalKeyRegistry()
    now_ms = int(time.time() * 1000)
    await keys.retire("gone", None, "auth")
    await keys.retire("later", now_ms + 60_000, "quota")
    await keys.retire("past", now_ms - 1, "quota")
    assert await keys.retired() == {"gone": None, "later": now_ms + 60_000}


async def test_demo_provider_is_deterministic_and_paced() -> None:
    limiter = RecordingLimiter()
    one, two = DemoProvider(limiter), DemoProvider(limiter)
    assert one.name == "demo"
    assert await one.count("리뷰", "blog") == await two.count("리뷰", "blog") == 334825
    assert await one.count("리뷰", "cafe") == 116140
    assert await one.count("맥북", "blog") == 499
    assert limiter.acquired == ["demo"] * 4
    with pytest.raises(KeywordError):
        await one.count("x", "local")


@pytest.mark.parametrize("keyword", ["리뷰", "맥북", "콜라", "python", "a", "여행 코스"])
def test_demo_counts_are_ordered_and_in_range(keyword: str) -> None:
    blog, cafe, news = (demo_count(keyword, c) for c in ("blog", "cafe", "news"))
    assert 5_000_000 >= blog >= cafe >= news >= 0


async def test_make_provider_picks_by_settings(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    limiter, keys = LocalRateLimiter(10.0), LocalKeyRegistry()
    assert isinstance(make_provider(settings(), session, limiter, keys), NaverProvider)
    caplog.set_level(logging.WARNING)
    demo = make_provider(settings(provider="demo"), session, limiter, keys)
    assert isinstance(demo, DemoProvider)
    assert any("NOT real" in r.getMessage() for r in caplog.records)
