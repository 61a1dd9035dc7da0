"""SearchAdProvider against shared/naver-api.md (Search Ad keyword tool): signature, request
shape, "< 10", 429/5xx/403, and the batching of VolumeLookup, with aioresponses and the fake."""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from server.settings import Settings
from server.store.sqlite import SqliteStore
from server.store.sqlite_limits import LocalRateLimiter
from server.work.providers.base import KeywordError
from server.work.providers.demo import DemoVolumeProvider, demo_volume
from server.work.providers.searchad import SearchAdProvider, parse_count, sign
from server.work.providers.volume_base import VolumeAuthError, normalise
from server.work.volumes import HAS_COMMA, NOT_FOUND, VolumeLookup, VolumeOutcome, ratio_of
from tests.support.aiohttp_compat import CompatClientResponse
from tests.support.fakesearchad import (
    AD_CUSTOMER,
    AD_LICENSE,
    AD_SECRET,
    FakeSearchAd,
    fake_volume,
)

BASE = "https://api.searchad.naver.com"
NOW_MS = 1700000000000


def settings(**changes: Any) -> Settings:
    base = dataclasses.replace(
        Settings(),
        volume_provider="naver",
        ad_customer_id=AD_CUSTOMER,
        ad_access_license=AD_LICENSE,
        ad_secret_key=AD_SECRET,
        ad_api_base=BASE,
        retry_attempts=3,
        retry_base_s=0.001,
        retry_max_s=0.004,
        request_timeout_s=2.0,
    )
    return dataclasses.replace(base, **changes)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def provider(
    session: aiohttp.ClientSession, sleeps: Sleeps | None = None, **changes: Any
) -> SearchAdProvider:
    return SearchAdProvider(
        settings(**changes),
        session,
        LocalRateLimiter(1000.0),
        rng=random.Random(7),
        sleep=sleeps or Sleeps(),
        clock_ms=lambda: NOW_MS,
    )


TOOL = re.compile(rf"^{re.escape(BASE)}/keywordstool\?.*$")


def reply(m: aioresponses, status: int = 200, payload: Any = None) -> None:
    m.get(TOOL, status=status, payload=payload, response_class=CompatClientResponse)


def test_signature_matches_an_independently_computed_vector() -> None:
    # printf '%s' "1700000000000.GET./keywordstool" \
    #   | openssl dgst -sha256 -hmac "AQAAAABexample+secret==" -binary | base64
    assert (
        sign("AQAAAABexample+secret==", "1700000000000", "GET", "/keywordstool")
        == "V+USWH0lFd7A8bRxKZkI0p7oyEAXYX3iGLLjlXyCp0Y="
    )


def test_below_ten_is_its_own_value() -> None:
    assert parse_count("< 10") == (10, True)
    assert parse_count(0) == (0, False)
    assert parse_count(10) == (10, False)
    assert parse_count(1234) == (1234, False)
    assert parse_count("1234") is None
    assert parse_count(None) is None
    assert parse_count(True) is None


def test_normalise_removes_spaces_and_upper_cases() -> None:
    assert normalise(" 캠핑 의자 ") == "캠핑의자"
    assert normalise("macbook  pro") == "MACBOOKPRO"


def test_ratio_counts_below_as_ten() -> None:
    row = {"total": 20, "totalBelow": True}
    assert ratio_of({"blog": 100, "cafe": 5}, row) == {"blog": 5.0, "cafe": 0.25}
    assert ratio_of({"blog": 100}, None) is None
    assert ratio_of({"blog": 100}, {"total": 0}) is None


async def test_request_is_signed_and_shaped_per_the_sheet(session: aiohttp.ClientSession) -> None:
    with aioresponses() as m:
        reply(
            m,
            payload={
                "keywordList": [
                    {
                        "relKeyword": "캠핑의자",
                        "monthlyPcQcCnt": 12000,
                        "monthlyMobileQcCnt": "< 10",
                        "compIdx": "높음",
                    },
                    {"relKeyword": "broken", "monthlyPcQcCnt": "many"},
                ]
            },
        )
        rows = await provider(session).lookup(["캠핑의자", "MACBOOK"])
        ((_, url), calls), *_ = m.requests.items()
    assert url.path == "/keywordstool"
    assert url.query["hintKeywords"] == "캠핑의자,MACBOOK"
    assert url.query["showDetail"] == "1"
    headers = calls[0].kwargs["headers"]
    assert headers == {
        "X-Timestamp": str(NOW_MS),
        "X-API-KEY": AD_LICENSE,
        "X-Customer": AD_CUSTOMER,
        "X-Signature": sign(AD_SECRET, str(NOW_MS), "GET", "/keywordstool"),
    }
    assert rows == [
        (
            "캠핑의자",
            {
                "pc": 12000,
                "pcBelow": False,
                "mobile": 10,
                "mobileBelow": True,
                "total": 12010,
                "totalBelow": True,
                "compIdx": "높음",
                "source": "naver",
            },
        )
    ]


async def test_spaces_and_more_than_five_hints_are_refused_before_sending(
    session: aiohttp.ClientSession,
) -> None:
    p = provider(session)
    with pytest.raises(ValueError):
        await p.lookup(["캠핑 의자"])
    with pytest.raises(ValueError):
        await p.lookup(["a", "b", "c", "d", "e", "f"])
    assert p.calls == 0


async def test_429_and_5xx_are_retried_with_jittered_backoff(
    session: aiohttp.ClientSession,
) -> None:
    sleeps = Sleeps()
    with aioresponses() as m:
        reply(m, 429, {"code": 429, "message": "Too Many Requests"})
        reply(m, 503, {})
        reply(m, payload={"keywordList": []})
        p = provider(session, sleeps)
        assert await p.lookup(["A"]) == []
    assert p.calls == 3 and p.retries == 2
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.001 and 0 <= sleeps.delays[1] <= 0.002


async def test_retries_run_out_into_a_keyword_error(session: aiohttp.ClientSession) -> None:
    with aioresponses() as m:
        for _ in range(4):
            reply(m, 500, {})
        with pytest.raises(KeywordError) as err:
            await provider(session).lookup(["A"])
    assert err.value.code == "upstream_unavailable"
    assert "4회" in str(err.value)


async def test_403_is_not_retried_and_names_the_credentials(
    session: aiohttp.ClientSession,
) -> None:
    sleeps = Sleeps()
    with aioresponses() as m:
        reply(m, 403, {"code": 403})
        p = provider(session, sleeps)
        with pytest.raises(VolumeAuthError) as err:
            await p.lookup(["A"])
    assert p.calls == 1 and sleeps.delays == []
    assert "NAVER_AD_SECRET_KEY" in str(err.value)
    assert AD_SECRET not in str(err.value)


# --- against the fake upstream, through the cache --------------------------------------------


@pytest.fixture
async def fake(aiohttp_server: Any) -> AsyncIterator[tuple[FakeSearchAd, str]]:
    fake = FakeSearchAd()
    server = await aiohttp_server(fake.app())
    yield fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(f"sqlite:///{tmp_path}/vol.db", Settings())
    await s.open()
    yield s
    await s.close()


def expected_row(hint: str) -> dict[str, Any]:
    pc, mobile, comp = fake_volume(hint)
    pcv, pcb = (10, True) if pc == "< 10" else (pc, False)
    mv, mb = (10, True) if mobile == "< 10" else (mobile, False)
    assert isinstance(pcv, int) and isinstance(mv, int)
    return {
        "pc": pcv,
        "pcBelow": pcb,
        "mobile": mv,
        "mobileBelow": mb,
        "total": pcv + mv,
        "totalBelow": pcb or mb,
        "compIdx": comp,
        "source": "naver",
    }


async def collect(lookup: VolumeLookup, keywords: list[str]) -> dict[str, VolumeOutcome]:
    got: dict[str, VolumeOutcome] = {}
    async for outcomes in lookup.stream(keywords):
        assert not set(outcomes) & set(got), "one outcome per keyword"
        got.update(outcomes)
    return got


def strip(row: dict[str, Any] | None) -> dict[str, Any]:
    assert row is not None
    return {k: v for k, v in row.items() if k not in ("observedAt", "cached")}


async def test_batches_of_five_without_spaces_matched_back_and_cached(
    fake: tuple[FakeSearchAd, str], store: SqliteStore, session: aiohttp.ClientSession
) -> None:
    upstream, base = fake
    keywords = [f"캠핑 의자 {i}" for i in range(11)] + ["macbook pro", "MacBook Pro", "캠핑의자0"]
    lookup = VolumeLookup(store, provider(session, ad_api_base=base))
    got = await collect(lookup, keywords)
    distinct = list(dict.fromkeys(normalise(k) for k in keywords))
    assert len(distinct) == 12  # spacing and case variants share one row
    assert len(upstream.calls) == 3  # ceil(12 / 5)
    assert all(c.status == 200 for c in upstream.calls)
    assert sorted(h for c in upstream.calls for h in c.hints) == sorted(distinct)
    assert all(len(c.hints) <= 5 for c in upstream.calls)
    for key in distinct:
        assert strip(got[key].row) == expected_row(key)
        assert got[key].row is not None and got[key].row["cached"] is False
    assert any(got[k].row["pcBelow"] for k in distinct if got[k].row)  # "< 10" reached

    # A second lookup is served by the cache: no call, marked cached, same values.
    again = await collect(lookup, keywords)
    assert len(upstream.calls) == 3
    for key in distinct:
        assert strip(again[key].row) == expected_row(key)
        assert again[key].row is not None and again[key].row["cached"] is True


async def test_cache_is_per_source(
    fake: tuple[FakeSearchAd, str], store: SqliteStore, session: aiohttp.ClientSession
) -> None:
    _, base = fake
    demo = VolumeLookup(store, DemoVolumeProvider(LocalRateLimiter(1000.0)))
    await collect(demo, ["캠핑"])
    real = VolumeLookup(store, provider(session, ad_api_base=base))
    got = await collect(real, ["캠핑"])
    assert got["캠핑"].row is not None and got["캠핑"].row["source"] == "naver"
    assert got["캠핑"].row["cached"] is False


async def test_unknown_keyword_and_comma_say_why(
    fake: tuple[FakeSearchAd, str], store: SqliteStore, session: aiohttp.ClientSession
) -> None:
    upstream, base = fake
    upstream.unknown.add("없는키워드")
    lookup = VolumeLookup(store, provider(session, ad_api_base=base))
    got = await collect(lookup, ["없는 키워드", "a,b", "캠핑"])
    assert got["없는키워드"] == VolumeOutcome(None, NOT_FOUND)
    assert got["A,B"] == VolumeOutcome(None, HAS_COMMA)
    assert strip(got["캠핑"].row) == expected_row("캠핑")
    assert [c.hints for c in upstream.calls] == [["없는키워드", "캠핑"]]


async def test_403_fails_every_keyword_still_without_a_volume(
    fake: tuple[FakeSearchAd, str], store: SqliteStore, session: aiohttp.ClientSession
) -> None:
    upstream, base = fake
    lookup = VolumeLookup(store, provider(session, ad_api_base=base, ad_secret_key="wrong"))
    got = await collect(lookup, [f"k{i}" for i in range(7)])
    assert set(got) == {f"K{i}" for i in range(7)}
    assert all(o.row is None and o.error and "인증 실패" in o.error for o in got.values())
    assert upstream.calls[0].status == 403


async def test_fake_injects_429_then_answers(
    fake: tuple[FakeSearchAd, str], store: SqliteStore, session: aiohttp.ClientSession
) -> None:
    upstream, base = fake
    upstream.add_fault("429", 2)
    upstream.add_fault("500")
    lookup = VolumeLookup(store, provider(session, ad_api_base=base))
    got = await collect(lookup, ["캠핑"])
    assert [c.status for c in upstream.calls] == [429, 429, 500, 200]
    assert strip(got["캠핑"].row) == expected_row("캠핑")


async def test_fake_refuses_spaces_and_bad_signatures(
    fake: tuple[FakeSearchAd, str], session: aiohttp.ClientSession
) -> None:
    _, base = fake
    ts = str(NOW_MS)
    good = {
        "X-Timestamp": ts,
        "X-API-KEY": AD_LICENSE,
        "X-Customer": AD_CUSTOMER,
        "X-Signature": sign(AD_SECRET, ts, "GET", "/keywordstool"),
    }
    url = f"{base}/keywordstool"
    async with session.get(
        url, params={"hintKeywords": "캠핑 의자", "showDetail": "1"}, headers=good
    ) as r:
        assert r.status == 400
    bad = {**good, "X-Signature": sign(AD_SECRET, ts, "GET", "/keywordstool?x")}
    async with session.get(
        url, params={"hintKeywords": "캠핑", "showDetail": "1"}, headers=bad
    ) as r:
        assert r.status == 403


async def test_related_sorted_by_total_volume(
    fake: tuple[FakeSearchAd, str], store: SqliteStore, session: aiohttp.ClientSession
) -> None:
    _, base = fake
    lookup = VolumeLookup(store, provider(session, ad_api_base=base))
    related = await lookup.related(["캠핑", "낚시"], limit=4)
    totals = [r["total"] for r in related]
    assert len(related) == 4 and totals == sorted(totals, reverse=True)
    names = {r["keyword"] for r in related}
    assert names <= {f"{h}{s}" for h in ("캠핑", "낚시") for s in ("추천", "후기", "가격")}
    for row in related:
        assert strip({k: v for k, v in row.items() if k != "keyword"}) == expected_row(
            row["keyword"]
        )


def test_demo_volumes_are_deterministic_and_marked() -> None:
    a = demo_volume("캠핑 의자")
    assert a == demo_volume("캠핑의자") and a["source"] == "demo"
    assert a["total"] == a["pc"] + a["mobile"]
