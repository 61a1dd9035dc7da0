"""POST /api/documents/keywords/parse (the dashboard's file import) and
``doccount submit keywords.xlsx --column 키워드``: the same keywords from the same file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl

from server.client import Command, run_command
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver


def two_columns() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["검색량", "키워드"], [12300, "캠핑 의자"], [450, "낚시"], [7, "등산 스틱"]):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_parse_shows_columns_and_takes_the_picked_one(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    client = await make_client(base_settings(tmp_path, fake_naver[1], run_worker=False))
    resp = await client.post("/api/documents/keywords/parse?filename=k.xlsx", data=two_columns())
    body = await resp.json()
    assert resp.status == 200, body
    assert body["columns"] == [
        {"index": 1, "name": "검색량", "count": 0, "sample": []},
        {"index": 2, "name": "키워드", "count": 3, "sample": ["캠핑 의자", "낚시", "등산 스틱"]},
    ]
    assert (body["headerRow"], body["column"]) == (True, 2)
    assert body["keywords"] == ["캠핑 의자", "낚시", "등산 스틱"]
    resp = await client.post(
        "/api/documents/keywords/parse?filename=k.txt&column=2", data=b"a\tb\nc\td\n"
    )
    assert (await resp.json())["keywords"] == ["b", "d"]


async def test_parse_errors_are_json(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    client = await make_client(base_settings(tmp_path, fake_naver[1], run_worker=False))
    for query, data, code in (
        ("filename=k.xlsx", b"garbage", "invalid_keyword_file"),
        ("filename=k.xls", b"x", "unsupported_file_type"),
        ("filename=k.xlsx&column=메모", two_columns(), "unknown_column"),
        ("filename=k.txt", b"1\n2\n", "no_keywords_in_file"),
    ):
        resp = await client.post(f"/api/documents/keywords/parse?{query}", data=data)
        body = await resp.json()
        assert (resp.status, body["success"], body["code"]) == (400, False, code), query
        assert body["error"]


async def test_cli_submits_the_column_of_an_xlsx(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    client = await make_client(base_settings(tmp_path, fake_naver[1], run_worker=False))
    url = str(client.make_url("")).rstrip("/")
    path = tmp_path / "keywords.xlsx"
    path.write_bytes(two_columns())
    out, err = io.StringIO(), io.StringIO()
    cmd = Command("submit", url, None, keywords_file=str(path), column="키워드")
    assert await run_command(cmd, out, err, io.StringIO()) == 0, err.getvalue()
    job_id = out.getvalue().strip()
    job = (await (await client.get(f"/api/documents/status?jobId={job_id}")).json())["job"]
    assert job["progress"]["total"] == 3 and job["name"] == "캠핑 의자 외 2개"
    bad = Command("submit", url, None, keywords_file=str(path), column="없음")
    err = io.StringIO()
    assert await run_command(bad, io.StringIO(), err, io.StringIO()) == 2
    assert "unknown_column" in err.getvalue() and "keywords.xlsx" in err.getvalue()
