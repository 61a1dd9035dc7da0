"""Issue 11.6: a job with failed keywords says so (failedCount), and its failed keywords can be
counted again as a new job (POST /api/documents/jobs/{id}/retry), on both engines."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from server.api.views import failed_part
from server.appkeys import WORKER
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver, fake_total


async def job_of(client: Any, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = (
        await (await client.get(f"/api/documents/status?jobId={job_id}")).json()
    )["job"]
    return job


async def test_retry_starts_a_job_of_exactly_the_failed_keywords(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    fake, base = fake_naver
    settings = replace(
        base_settings(tmp_path, base), store_url=store_url, run_worker=False, retry_attempts=0
    )
    client = await make_client(settings)
    fake.add_fault("500", query="리뷰", api="news")  # one category of one keyword
    fake.add_fault("500", query="커피", api="blog")
    fake.add_fault("500", query="커피", api="news")  # every category of another
    body = {"keywords": ["맥북", "리뷰", "커피", "리뷰"], "categories": ["blog", "news"],
            "priority": "low"}  # fmt: skip
    first_id = (await (await client.post("/api/documents/batch", json=body)).json())["jobId"]
    await client.app[WORKER].run_until_idle()
    first = await job_of(client, first_id)
    # Seed compatibility: still "completed"; the new field says how many keywords failed.
    assert (first["status"], first["failedCount"]) == ("completed", 3)

    resp = await client.post(f"/api/documents/jobs/{first_id}/retry")
    answer = await resp.json()
    assert resp.status == 200
    assert set(answer) == {"success", "jobId", "message", "quota"} and answer["success"] is True
    assert answer["message"] == "배치 작업이 시작되었습니다"
    calls_before = len(fake.calls)
    await client.app[WORKER].run_until_idle()
    retry = await job_of(client, answer["jobId"])
    assert [r["keyword"] for r in retry["results"]] == ["리뷰", "커피"]
    assert (retry["categories"], retry["priority"]) == (["blog", "news"], "low")
    assert retry["name"] == "리뷰 외 1개"  # named after its own keywords
    assert (retry["status"], retry["failedCount"]) == ("completed", 0)
    assert retry["results"][1]["counts"] == {c: fake_total("커피", c) for c in ("blog", "news")}
    # 리뷰/blog came from the cache: only the three failed lookups went upstream.
    assert retry["results"][0]["cached"] == ["blog"]
    assert len(fake.calls) == calls_before + 3

    resp = await client.post(f"/api/documents/jobs/{answer['jobId']}/retry")
    assert resp.status == 409
    assert await resp.json() == {
        "success": False,
        "error": "다시 조회할 실패한 키워드가 없습니다",
        "code": "nothing_to_retry",
    }


async def test_retry_of_an_unknown_job_is_a_404(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    client = await make_client(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))
    resp = await client.post("/api/documents/jobs/batch_1796000000000_AAAAAAAAAAAAAAAAAAAAAA/retry")
    assert (resp.status, (await resp.json())["code"]) == (404, "job_not_found")
    resp = await client.post("/api/documents/jobs/nope/retry")
    assert (resp.status, (await resp.json())["code"]) == (400, "invalid_job_id")


def test_a_missing_search_volume_is_not_a_category_to_retry() -> None:
    """``errors`` may also say why a keyword's search volume is missing: a keyword that failed
    whole is retried in every category, and a volume failure alone is nothing to retry."""
    job = {
        "categories": ["blog", "cafe"],
        "results": [
            {"keyword": "a", "error": "실패", "errors": {"searchVolume": "volume_auth_failed"}},
            {"keyword": "b", "error": None, "errors": {"searchVolume": "volume_auth_failed"}},
        ],
    }
    assert failed_part(job) == (("a",), ("blog", "cafe"))
