"""Search volumes in whole jobs: both providers (fake Naver search + fake Search Ad) over HTTP
polling, SSE and WebSocket, on both engines; batching, "< 10", a volume that arrives after its
counts (a second result event with the same index), and a 403 that leaves the counts alone."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import STORE, WORKER
from server.codec import loads
from server.work.providers.demo import demo_volume
from server.work.providers.volume_base import normalise
from server.work.worker import Worker
from tests.support.common import base_settings, wait_until
from tests.support.fakesearchad import (
    AD_CUSTOMER,
    AD_LICENSE,
    AD_SECRET,
    FakeSearchAd,
    fake_volume,
)
from tests.support.fakeupstream import FakeNaver, fake_total
from tests.support.streams import SseBlocks, run_job, status_of, submit


def settings_for(tmp_path: Path, naver: str, ad: str, store_url: str, **changes: Any) -> Any:
    values: dict[str, Any] = {
        "store_url": store_url,
        "run_worker": False,
        "volume_provider": "naver",
        "ad_customer_id": AD_CUSTOMER,
        "ad_access_license": AD_LICENSE,
        "ad_secret_key": AD_SECRET,
        "ad_api_base": ad,
        "ad_rate_per_s": 1000.0,
    }
    return replace(base_settings(tmp_path, naver), **{**values, **changes})


def expected_row(keyword: str) -> dict[str, Any]:
    pc, mobile, comp = fake_volume(normalise(keyword))
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


def volume_of(result: dict[str, Any]) -> dict[str, Any] | None:
    row = result["searchVolume"]
    if row is None:
        return None
    assert isinstance(row["observedAt"], int) and isinstance(row["cached"], bool)
    return {k: v for k, v in row.items() if k not in ("observedAt", "cached")}


def below_keyword() -> str:
    """A keyword the fake answers "< 10" for on PC (found, not assumed)."""
    for i in range(100):
        if fake_volume(f"드문키워드{i}")[0] == "< 10":
            return f"드문 키워드{i}"
    raise AssertionError("no < 10 keyword among 100")


async def sse_all(resp: Any) -> list[Any]:
    blocks, out = SseBlocks(resp), []
    while (block := await blocks.next()) is not None:
        out.append(block)
    return out


async def test_job_with_volumes_over_http_sse_and_ws(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    fake_ad: tuple[FakeSearchAd, str],
    make_client: Any,
    store_url: str,
) -> None:
    naver, naver_base = fake_naver
    ad, ad_base = fake_ad
    rare = below_keyword()
    keywords = [f"캠핑 용품 {i}" for i in range(10)] + ["캠핑용품 3", rare, "MacBook", "macbook"]
    distinct = {normalise(k) for k in keywords}
    client = await make_client(settings_for(tmp_path, naver_base, ad_base, store_url))
    job_id = await submit(client, keywords)
    sse = await client.get(f"/api/documents/events?jobId={job_id}")
    ws = await client.ws_connect("/api/documents/ws")
    await ws.send_json({"type": "subscribe", "jobId": job_id})
    assert (await ws.receive_json())["type"] == "snapshot"

    assert await client.app[WORKER].run_until_idle() == [job_id]

    job = await status_of(client, job_id)
    assert job["status"] == "completed"
    assert len(ad.calls) == math.ceil(len(distinct) / 5) == 3
    assert all(c.status == 200 and len(c.hints) <= 5 for c in ad.calls)
    assert all(" " not in h for c in ad.calls for h in c.hints)
    for i, result in enumerate(job["results"]):
        keyword = keywords[i]
        assert result["counts"] == {"blog": fake_total(keyword, "blog")}
        assert volume_of(result) == expected_row(keyword), keyword
        total = expected_row(keyword)["total"]
        assert result["ratio"] == {"blog": round(fake_total(keyword, "blog") / total, 2)}
        assert "errors" not in result
    by_kw = {r["keyword"]: r for r in job["results"]}
    assert by_kw[rare]["searchVolume"]["pc"] == 10
    assert by_kw[rare]["searchVolume"]["pcBelow"] is True
    assert by_kw[rare]["searchVolume"]["totalBelow"] is True
    assert len(naver.calls) == len(set(keywords))  # counts: each distinct keyword once

    # Pushed: SSE and WebSocket saw exactly the log, and the latest result per index is the
    # one polling shows.
    log = (await client.app[STORE].read_events(job_id, None)).events
    blocks = await sse_all(sse)
    assert [(b.id, b.data) for b in blocks[1:]] == [(e.id, e.json) for e in log[1:]]
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1].get("status") != "completed":
        frames.append(await ws.receive_json())
    assert [f["id"] for f in frames] == [e.id for e in log[1:]]
    await ws.close()
    latest: dict[int, dict[str, Any]] = {}
    for e in log:
        if e.type == "result":
            body = loads(e.json)
            latest[body["result"]["index"]] = body["result"]
    assert [latest[i] for i in range(len(keywords))] == job["results"]


async def test_volume_after_counts_updates_by_a_second_result_event(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    fake_ad: tuple[FakeSearchAd, str],
    make_client: Any,
    store_url: str,
) -> None:
    _, naver_base = fake_naver
    ad, ad_base = fake_ad
    ad.gate = asyncio.Event()  # volumes held back until every count is committed
    keywords = ["캠핑", "낚시", "등산", "캠핑"]
    client = await make_client(settings_for(tmp_path, naver_base, ad_base, store_url))
    job_id = await submit(client, keywords)
    runner = asyncio.create_task(client.app[WORKER].run_until_idle())
    try:

        async def counted() -> bool:
            return (await status_of(client, job_id))["progress"]["current"] == 4

        await wait_until(counted, timeout_s=10.0)
        held = await status_of(client, job_id)
        assert held["status"] == "processing"  # not finished while volumes are owed
        assert [r["searchVolume"] for r in held["results"]] == [None] * 4
        assert [r["ratio"] for r in held["results"]] == [None] * 4
        ad.gate.set()
        assert await runner == [job_id]
    finally:
        ad.gate.set()
        if not runner.done():
            runner.cancel()
    job = await status_of(client, job_id)
    assert job["status"] == "completed"
    assert [volume_of(r) for r in job["results"]] == [expected_row(k) for k in keywords]
    log = (await client.app[STORE].read_events(job_id, None)).events
    indices = [loads(e.json)["result"]["index"] for e in log if e.type == "result"]
    assert sorted(indices) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert indices[:4] == [0, 1, 2, 3]  # counts first, then one update per index
    updates = [loads(e.json) for e in log if e.type == "result"][4:]
    assert all(u["progress"] == {"current": 4, "total": 4} for u in updates)
    assert len(ad.calls) == 1


async def test_403_fails_volumes_only(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    fake_ad: tuple[FakeSearchAd, str],
    make_client: Any,
    store_url: str,
) -> None:
    _, naver_base = fake_naver
    ad, ad_base = fake_ad
    settings = settings_for(tmp_path, naver_base, ad_base, store_url, ad_secret_key="wrong")
    client = await make_client(settings)
    keywords = [f"kw{i}" for i in range(7)]
    _, job = await run_job(client, keywords)
    assert job["status"] == "completed" and job["error"] is None
    for keyword, result in zip(keywords, job["results"], strict=True):
        assert result["counts"] == {"blog": fake_total(keyword, "blog")}
        assert result["error"] is None
        assert result["searchVolume"] is None and result["ratio"] is None
        assert "검색광고 API 인증 실패(HTTP 403)" in result["errors"]["searchVolume"]
    assert [c.status for c in ad.calls][:1] == [403]


async def test_demo_volumes_marked_demo(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        store_url=store_url,
        run_worker=False,
        volume_provider="demo",
        ad_rate_per_s=1000.0,
    )
    client = await make_client(settings)
    _, job = await run_job(client, ["캠핑 의자", "낚시"])
    assert [volume_of(r) for r in job["results"]] == [demo_volume("캠핑 의자"), demo_volume("낚시")]
    config = await (await client.get("/api/config")).json()
    assert config["volumeProvider"] == "demo"


async def test_volumes_off_leaves_nulls(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    client = await make_client(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))
    _, job = await run_job(client, ["캠핑"])
    (result,) = job["results"]
    assert result["searchVolume"] is None and result["ratio"] is None and "errors" not in result
    assert (await (await client.get("/api/config")).json())["volumeProvider"] == "off"


async def test_resumed_job_fills_volumes_of_results_committed_before_the_stop(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    fake_ad: tuple[FakeSearchAd, str],
    make_client: Any,
    store_url: str,
) -> None:
    _, naver_base = fake_naver
    _, ad_base = fake_ad
    client = await make_client(settings_for(tmp_path, naver_base, ad_base, store_url))
    store = client.app[STORE]
    job_id = await submit(client, ["캠핑", "낚시", "등산"])
    claimed = await store.claim_next("w-old", 0)
    assert claimed is not None
    # What a worker stopped after its first commit left: counts, no volume yet.
    first = {
        "index": 0,
        "keyword": "캠핑",
        "counts": {"blog": fake_total("캠핑", "blog")},
        "source": "naver",
        "cached": [],
        "error": None,
        "searchVolume": None,
        "ratio": None,
    }
    await store.record_result(job_id, 0, first, "w-old")
    worker = client.app[WORKER]
    resumed = Worker(
        store, worker.counter, worker.settings, worker_id="w-old", volumes=worker.volumes
    )
    await resumed.process(replace(claimed, next_index=1))
    job = await status_of(client, job_id)
    assert job["status"] == "completed"
    assert [volume_of(r) for r in job["results"]] == [
        expected_row(k) for k in ("캠핑", "낚시", "등산")
    ]
