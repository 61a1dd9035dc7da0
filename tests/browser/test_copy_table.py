"""표 복사 (the dashboard's copy as TSV, for pasting into a sheet) holds the same search volume
and 경쟁률 columns as the server's export, with the same values: a user who copies instead of
downloading loses nothing (issue 13)."""

from __future__ import annotations

import csv
import io
import uuid

from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    Dash,
    Serve,
    browser,
    copy_tsv,
    dash,
    export_csv,
    finished_job_page,
    serve,
)

VOLUME_COLUMNS = [
    "PC 검색량",
    "모바일 검색량",
    "총 검색량",
    "경쟁률 (블로그)",
    "경쟁률 (뉴스)",
    "광고 경쟁도",
]


async def test_copied_table_has_the_exports_volume_columns(serve: Serve, dash: Dash) -> None:  # noqa: F811
    tag = uuid.uuid4().hex[:4]
    keywords = [f"맥북 {tag}", f"캠핑 의자 {tag}", f"가평 글램핑 {tag}"]
    base = await serve(volume_provider="demo", ad_rate_per_s=1000.0)
    page = await finished_job_page(dash, base, keywords)

    _, raw = await export_csv(page)
    exported = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    assert [h for h in exported[0] if h in VOLUME_COLUMNS] == VOLUME_COLUMNS
    copied = await copy_tsv(page)
    assert [h for h in copied[0] if h in VOLUME_COLUMNS] == VOLUME_COLUMNS

    def by_keyword(table: list[list[str]], key_column: str) -> dict[str, list[str]]:
        head = table[0]
        at = [head.index(name) for name in VOLUME_COLUMNS]
        k = head.index(key_column)
        return {row[k]: [row[i] for i in at] for row in table[1:]}

    theirs = by_keyword(exported, "키워드")
    ours = by_keyword(copied, "키워드")
    assert set(ours) == set(keywords)
    for keyword in keywords:
        # The export writes 경쟁률 with the number's own digits; the copy does the same.
        assert ours[keyword] == theirs[keyword], keyword
        assert ours[keyword][2] != "", "no volume in the copy"
