"""The CSV export writes each cell as a sheet and the dashboard's 표 복사 show it: a whole 경쟁률
is "19290", not Python's "19290.0" (the copy, made in JavaScript, writes "19290"; CI once caught
the two differing), fractions keep their digits, text that a sheet would run as a formula is
defused, an empty cell is empty."""

from __future__ import annotations

import csv
import io

from server.export import Table, to_csv


def test_csv_cells_are_written_as_a_sheet_shows_them() -> None:
    table = Table(
        ["키워드", "블로그", "경쟁률 (블로그)", "광고 경쟁도", "오류"],
        [
            ["가평 글램핑", 123456, 19290.0, "낮음", None],
            ["=cmd", 0, 14886.8, None, "@x"],
            ["맥북", 7, 0.0, "높음", None],
        ],
        set(),
        frozenset({2}),
    )
    raw = to_csv(table)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    assert rows == [
        ["키워드", "블로그", "경쟁률 (블로그)", "광고 경쟁도", "오류"],
        ["가평 글램핑", "123456", "19290", "낮음", ""],
        ["'=cmd", "0", "14886.8", "", "'@x"],
        ["맥북", "7", "0", "높음", ""],
    ]
