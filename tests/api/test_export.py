"""GET /api/documents/jobs/{id}/export: the xlsx read back with openpyxl (values and types,
frozen header, autofilter, failed cells), the CSV (BOM, Korean headers, formulas defused, the
default), and the CLI's streaming formats TSV and JSON lines."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import openpyxl

from server.appkeys import WORKER
from server.codec import loads
from server.work.providers.volume_base import normalise
from tests.support.common import base_settings, wait_until
from tests.support.fakesearchad import AD_CUSTOMER, AD_LICENSE, AD_SECRET, FakeSearchAd, fake_volume
from tests.support.fakeupstream import FakeNaver, fake_total


def below_keyword() -> str:
    for i in range(100):
        if fake_volume(f"드문키워드{i}")[0] == "< 10":
            return f"드문키워드{i}"
    raise AssertionError("no < 10 keyword among 100")


async def finished_job(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], fake_ad: tuple[FakeSearchAd, str],
    make_client: Any, keywords: list[str],
) -> tuple[Any, str]:  # fmt: skip
    naver, naver_base = fake_naver
    settings = replace(
        base_settings(tmp_path, naver_base, retry_attempts=1),
        run_worker=False,
        volume_provider="naver",
        ad_customer_id=AD_CUSTOMER,
        ad_access_license=AD_LICENSE,
        ad_secret_key=AD_SECRET,
        ad_api_base=fake_ad[1],
        ad_rate_per_s=1000.0,
    )
    client = await make_client(settings)
    # The cafe count of "실패" fails for good: two 500s use up its one retry.
    naver.add_fault("500", query="실패", api="cafearticle", times=2)
    resp = await client.post(
        "/api/documents/batch", json={"keywords": keywords, "categories": ["blog", "cafe"]}
    )
    job_id = (await resp.json())["jobId"]
    assert await client.app[WORKER].run_until_idle() == [job_id]
    return client, job_id


def volume_total(keyword: str) -> int:
    """PC + mobile, a "< 10" counted as 10 (as the server's 경쟁률 does)."""
    pc, mobile, _ = fake_volume(normalise(keyword))
    return sum(10 if v == "< 10" else int(v) for v in (pc, mobile))


def volume_cells(keyword: str) -> list[Any]:
    pc, mobile, _ = fake_volume(normalise(keyword))
    pcv = 10 if pc == "< 10" else pc
    mv = 10 if mobile == "< 10" else mobile
    assert isinstance(pcv, int) and isinstance(mv, int)
    total = pcv + mv
    below = pc == "< 10" or mobile == "< 10"
    return [
        "< 10" if pc == "< 10" else pc,
        "< 10" if mobile == "< 10" else mobile,
        "< 10" if below else total,
        # one 경쟁률 per category: each category's documents ÷ the monthly searches
        round(fake_total(keyword, "blog") / total, 2),
        round(fake_total(keyword, "cafearticle") / total, 2),
    ]


HEADERS = [
    "키워드", "블로그", "카페", "합계", "PC 검색량", "모바일 검색량", "총 검색량",
    "경쟁률 (블로그)", "경쟁률 (카페)", "광고 경쟁도", "오류",
]  # fmt: skip


async def test_xlsx_read_back_with_openpyxl(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    fake_ad: tuple[FakeSearchAd, str],
    make_client: Any,
) -> None:
    rare = below_keyword()
    keywords = ["캠핑", rare, "실패"]
    client, job_id = await finished_job(tmp_path, fake_naver, fake_ad, make_client, keywords)
    resp = await client.get(f"/api/documents/jobs/{job_id}/export?format=xlsx")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert disposition.endswith("filename*=UTF-8''" + quote("캠핑 외 2개.xlsx"))  # the job's name
    book = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    ws = book.active
    assert ws is not None
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0] == HEADERS
    assert ws.freeze_panes == "B2"
    assert ws.auto_filter.ref == "A1:K4"
    blog = {k: fake_total(k, "blog") for k in keywords}
    cafe = {k: fake_total(k, "cafearticle") for k in keywords}
    for keyword, row in zip(keywords[:2], rows[1:3], strict=True):
        comp = fake_volume(normalise(keyword))[2]
        assert row == [
            keyword, blog[keyword], cafe[keyword], blog[keyword] + cafe[keyword],
            *volume_cells(keyword), comp, None,
        ]  # fmt: skip
        assert all(type(v) is int for v in row[1:4])  # numbers, not text
    assert rows[2][4] == "< 10"  # never 0, never a plain 10
    failed = rows[3]
    assert failed[:4] == ["실패", blog["실패"], "오류", None]
    assert failed[7] == round(blog["실패"] / volume_total("실패"), 2)
    assert failed[8] is None  # no cafe count, no cafe 경쟁률
    assert failed[10] is not None and "카페" in failed[10]
    assert ws["C4"].font.color.rgb.endswith("B00020")  # marked
    assert ws["B2"].number_format == "#,##0"
    assert ws["H2"].number_format == ws["I2"].number_format == "0.00"


async def test_csv_has_bom_korean_headers_and_defused_formulas(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    fake_ad: tuple[FakeSearchAd, str],
    make_client: Any,
) -> None:
    keywords = ["=HYPERLINK(1)", "+캠핑", "캠핑"]
    client, job_id = await finished_job(tmp_path, fake_naver, fake_ad, make_client, keywords)
    resp = await client.get(f"/api/documents/jobs/{job_id}/export?format=csv")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    assert rows[0] == HEADERS
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(1)", "'+캠핑", "캠핑"]
    assert rows[3][1] == str(fake_total("캠핑", "blog"))


async def test_export_errors_are_json(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    fake_ad: tuple[FakeSearchAd, str],
    make_client: Any,
) -> None:
    client, job_id = await finished_job(tmp_path, fake_naver, fake_ad, make_client, ["캠핑"])
    resp = await client.get(f"/api/documents/jobs/{job_id}/export?format=pdf")
    assert resp.status == 400 and (await resp.json())["code"] == "invalid_format"
    missing = "batch_1700000000000_" + "A" * 22
    resp = await client.get(f"/api/documents/jobs/{missing}/export?format=csv")
    assert resp.status == 404 and (await resp.json())["code"] == "job_not_found"
    resp = await client.get("/api/documents/jobs/nope/export")
    assert resp.status == 400 and (await resp.json())["code"] == "invalid_job_id"


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
    resp = await client.get(url)  # the default: the Korean CSV (the link webhooks send)
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"].startswith(f'attachment; filename="{job_id}.csv"')
    text = await resp.text()
    assert text.startswith("\ufeff")
    assert text == await (await client.get(url, params={"format": "csv"})).text()
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][:3] == ["키워드", "블로그", "뉴스"]
    assert [r[:3] for r in rows[1:]] == [
        [shown, str(fake_total(k, "blog")), str(fake_total(k, "news"))]
        for k, shown in (("=1+1", "'=1+1"), ("맥북", "맥북"))
    ]
    resp = await client.get(url, params={"format": "tsv"})
    assert (await resp.text()).splitlines()[1].startswith("'=1+1\t")
    resp = await client.get(url, params={"format": "jsonl"})
    lines = [loads(line) for line in (await resp.text()).splitlines()]
    assert [r["keyword"] for r in lines] == ["=1+1", "맥북"]  # JSON is data, not a sheet
    resp = await client.get(url, params={"format": "xls"})
    assert (resp.status, (await resp.json())["code"]) == (400, "invalid_format")
    resp = await client.get("/api/documents/jobs/batch_1700000000000_AAAAAAAAAAAAAAAAAAAAAA/export")
    assert (resp.status, (await resp.json())["code"]) == (404, "job_not_found")
