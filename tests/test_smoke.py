from __future__ import annotations

from dataclasses import replace

from server.appkeys import WORKER
from server.fakeupstream import fake_total

from .conftest import base_settings


async def test_job_counts_against_fake_upstream(tmp_path, fake_naver, make_client):
    fake, base = fake_naver
    client = await make_client(replace(base_settings(tmp_path, base), run_worker=False))
    resp = await client.post("/api/documents/batch", json={"keywords": ["맥북", "리뷰"]})
    body = await resp.json()
    assert resp.status == 200 and body["success"] is True
    assert await client.app[WORKER].run_until_idle() == [body["jobId"]]
    job = (await (await client.get(f"/api/documents/status?jobId={body['jobId']}")).json())["job"]
    assert job["status"] == "completed"
    assert [r["keyword"] for r in job["results"]] == ["맥북", "리뷰"]
    assert job["results"][1]["counts"] == {
        "blog": fake_total("리뷰", "blog"),
        "cafe": fake_total("리뷰", "cafearticle"),
        "news": fake_total("리뷰", "news"),
        "web": fake_total("리뷰", "webkr"),
    }
    assert len(fake.calls) == 8
