"""Issue 12.8: an upstream storm (429s, 5xx, timeouts) longer than the quick retries does not
lose the job's keywords. A keyword that exhausted its quick retries is set aside and looked up
again later, up to --storm-retry-s; the keywords after it are looked up meanwhile, and results
still commit in keyword order. On both engines."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import WORKER
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver, fake_total

CATEGORIES = ["blog", "news"]


async def run_job(client: Any, keywords: list[str], categories: list[str]) -> dict[str, Any]:
    body = {"keywords": keywords, "categories": categories}
    job_id = (await (await client.post("/api/documents/batch", json=body)).json())["jobId"]
    assert await client.app[WORKER].run_until_idle() == [job_id]
    job: dict[str, Any] = (
        await (await client.get(f"/api/documents/status?jobId={job_id}")).json()
    )["job"]
    return job


def storm_settings(tmp_path: Path, base: str, store_url: str, **overrides: Any) -> Any:
    # One quick retry, then tiny parking waits: the storm outlasts the quick retries many
    # times over without the test waiting for real backoff.
    chosen: dict[str, Any] = {
        "store_url": store_url,
        "run_worker": False,
        "retry_attempts": 1,
        "storm_retry_first_s": 0.005,
        "storm_retry_max_s": 0.02,
    }
    return replace(base_settings(tmp_path, base), **(chosen | overrides))


async def test_a_storm_longer_than_the_quick_retries_loses_no_keyword(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    fake, base = fake_naver
    client = await make_client(storm_settings(tmp_path, base, store_url, storm_retry_s=60.0))
    keywords = ["맥북", "아이폰", "갤럭시", "맥북", "아이패드"]
    # 4 distinct keywords x 2 categories x 2 attempts = 16 calls per round of quick retries:
    # 60 faults fail every lookup's quick retries more than three times over.
    fake.add_fault("429", times=60)
    job = await run_job(client, keywords, CATEGORIES)
    assert [(r["index"], r["keyword"], r["error"]) for r in job["results"]] == [
        (i, k, None) for i, k in enumerate(keywords)
    ]
    assert (job["status"], job["failedCount"]) == ("completed", 0)
    assert not fake.faults[("*", "*")], "the storm was served to the end"
    for r in job["results"]:
        assert r["counts"] == {c: fake_total(r["keyword"], c) for c in CATEGORIES}
    # Only the failed categories were asked again, and each answered once in the end.
    ok = len(fake.calls) - 60
    assert ok == 4 * len(CATEGORIES)


async def test_a_storm_longer_than_the_bound_ends_in_final_errors(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    fake, base = fake_naver
    client = await make_client(storm_settings(tmp_path, base, store_url, storm_retry_s=0.2))
    fake.add_fault("500", query="커피", api="news", times=100_000)  # never passes
    job = await run_job(client, ["맥북", "커피", "리뷰"], CATEGORIES)
    assert (job["status"], job["failedCount"]) == ("completed", 1)
    coffee = job["results"][1]
    assert (coffee["index"], coffee["keyword"]) == (1, "커피")
    assert coffee["counts"] == {"blog": fake_total("커피", "blog")}
    assert coffee["errors"]["news"].startswith("네이버 API 일시 오류로 2회 시도 후 실패")
    # Asked again after its quick retries (2 calls), and more than once, before giving up.
    assert len(fake.calls_for("커피", "news")) >= 2 * 3
    assert [r["error"] for r in (job["results"][0], job["results"][2])] == [None, None]


async def test_a_timing_out_keyword_does_not_hold_back_the_lookups_after_it(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    fake, base = fake_naver
    timeout_s = 2.0  # the one real wait: generous, so the lookups after it fit on a busy machine
    client = await make_client(
        storm_settings(
            tmp_path,
            base,
            store_url,
            storm_retry_s=60.0,
            retry_attempts=0,
            keyword_concurrency=2,
            request_timeout_s=timeout_s,
        )
    )
    fake.add_fault("timeout", query="느림", api="blog")
    keywords = ["느림", "가", "나", "다", "라", "마"]
    job = await run_job(client, keywords, ["blog"])
    slow = fake.calls_for("느림")
    # Every keyword after it was looked up while its first call was still hanging.
    for keyword in keywords[1:]:
        (call,) = fake.calls_for(keyword)
        assert call.t_s < slow[0].t_s + timeout_s, keyword
    assert len(slow) == 2  # timed out once, parked, then answered
    # ... and the results still committed in order, each with its real count.
    assert (job["status"], job["failedCount"]) == ("completed", 0)
    assert [(r["index"], r["keyword"], r["counts"]) for r in job["results"]] == [
        (i, k, {"blog": fake_total(k, "blog")}) for i, k in enumerate(keywords)
    ]
