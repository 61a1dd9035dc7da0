"""``GET /api/documents/jobs/{id}/export``: the results as CSV (BOM, defused), TSV or JSON lines."""

from __future__ import annotations

import csv
import io

from server.codec import loads
from tests.support.common import wait_until
from tests.support.fakeupstream import fake_total


async def test_export_formats(make_client, settings):
    client = await make_client(settings)
    resp = await client.post(
        "/api/documents/batch", json={"keywords": ["=1+1", "맥북"], "categories": ["blog", "news"]}
    )
    job_id = (await resp.json())["jobId"]

    async def done() -> bool:
        r = await client.get("/api/documents/status", params={"jobId": job_id})
        return bool((await r.json())["job"]["status"] == "completed")

    await wait_until(done)
    url = f"/api/documents/jobs/{job_id}/export"
    resp = await client.get(url)
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{job_id}.csv"'
    text = await resp.text()
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows == [
        ["keyword", "blog", "news", "error"],
        *(
            [shown, str(fake_total(k, "blog")), str(fake_total(k, "news")), ""]
            for k, shown in (("=1+1", "'=1+1"), ("맥북", "맥북"))
        ),
    ]
    resp = await client.get(url, params={"format": "tsv"})
    assert (await resp.text()).splitlines()[1].startswith("'=1+1\t")
    resp = await client.get(url, params={"format": "jsonl"})
    lines = [loads(line) for line in (await resp.text()).splitlines()]
    assert [r["keyword"] for r in lines] == ["=1+1", "맥북"]  # JSON is data, not a sheet
    resp = await client.get(url, params={"format": "xlsx"})
    assert (resp.status, (await resp.json())["code"]) == (400, "invalid_format")
    resp = await client.get("/api/documents/jobs/batch_1700000000000_AAAAAAAAAAAAAAAAAAAAAA/export")
    assert (resp.status, (await resp.json())["code"]) == (404, "job_not_found")
