"""The command line's writers and progress bar, on a simulated screen and on plain files."""

from __future__ import annotations

import csv
import io

import pytest

from server.client.output import ProgressBar, ResultWriter, defuse
from tests.support.terminal import screen_lines

CATS = ["blog", "news"]


class Screen(io.StringIO):
    """One terminal that stdout and stderr both write to, in the order they write."""

    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def result(index: int, keyword: str, blog: int = 1, news: int = 2) -> dict[str, object]:
    return {"index": index, "keyword": keyword, "counts": {"blog": blog, "news": news}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+82", "'+82"),
        ("-맥북", "'-맥북"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("맥북=1", "맥북=1"),
        ("", ""),
    ],
)
def test_defuse(text: str, expected: str) -> None:
    assert defuse(text) == expected


def test_csv_defuses_text_cells_not_counts() -> None:
    out = io.StringIO()
    writer = ResultWriter(out, "csv")
    writer.begin(CATS)
    writer.write(result(0, '=HYPERLINK("http://x")'))
    writer.write({**result(1, "-2"), "error": "@오류"})
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [
        ["keyword", "blog", "news", "error"],
        ['\'=HYPERLINK("http://x")', "1", "2", ""],
        ["'-2", "1", "2", "'@오류"],
    ]


def test_tsv_and_table_and_jsonl() -> None:
    tsv = io.StringIO()
    writer = ResultWriter(tsv, "tsv")
    writer.begin(CATS)
    writer.write(result(0, "+a\tb", 1234567, 0))
    assert tsv.getvalue() == "keyword\tblog\tnews\terror\n'+a b\t1234567\t0\t\n"

    table = io.StringIO()
    writer = ResultWriter(table, "table")
    writer.begin(CATS)
    writer.write(result(0, "맥북", 1234567, 0))
    writer.write({"index": 1, "keyword": "=x", "counts": {}, "error": "실패"})
    assert table.getvalue().splitlines() == [
        "keyword                     blog        news  error",
        "맥북                   1,234,567           0",
        "'=x                                           실패",
    ]

    jsonl = io.StringIO()
    writer = ResultWriter(jsonl, "jsonl")
    writer.begin(CATS)
    writer.write(result(0, "=x"))
    writer.write(result(0, "=x"))  # the same index again (after a reconnect): not twice
    assert jsonl.getvalue() == '{"index":0,"keyword":"=x","counts":{"blog":1,"news":2}}\n'


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="알 수 없는 출력 형식"):
        ResultWriter(io.StringIO(), "xml")


def test_on_one_screen_a_result_never_shares_the_bars_line() -> None:
    screen, clock = Screen(), Clock()
    bar = ProgressBar(screen, clock)
    writer = ResultWriter(screen, "csv", bar=bar)
    writer.begin(CATS)
    bar.update(0, 3, force=True)
    for i, keyword in enumerate(["가평 글램핑", "맥북", "아이폰"]):
        clock.now_s += 1.0
        writer.write(result(i, keyword))
        bar.update(i + 1, 3)
    bar.finish("job: completed (3/3)")
    assert screen_lines(screen.getvalue()) == [
        "keyword,blog,news,error",
        "가평 글램핑,1,2,",
        "맥북,1,2,",
        "아이폰,1,2,",
        "[########################] 3/3 100%  1.0/s  남은 시간 0:00",
        "job: completed (3/3)",
        "",
    ]


def test_a_bar_on_the_terminal_with_results_in_a_file() -> None:
    err, out, clock = Screen(), io.StringIO(), Clock()
    bar = ProgressBar(err, clock)
    writer = ResultWriter(out, "csv", bar=bar)
    writer.begin(CATS)
    bar.update(0, 2, force=True)
    clock.now_s += 2.0
    writer.write(result(0, "맥북"))
    bar.update(1, 2)
    bar.finish("job: completed (2/2)")
    assert out.getvalue() == "keyword,blog,news,error\n맥북,1,2,\n"
    assert screen_lines(err.getvalue()) == [
        "[############............] 1/2  50%  0.5/s  남은 시간 0:02",
        "job: completed (2/2)",
        "",
    ]


def test_no_bar_and_no_escape_codes_into_a_file() -> None:
    err, out, clock = io.StringIO(), io.StringIO(), Clock()
    bar = ProgressBar(err, clock)
    writer = ResultWriter(out, "csv", bar=bar)
    bar.line("작업 시작: job (키워드 1개)")
    writer.begin(CATS)
    bar.update(0, 1, force=True)
    writer.write(result(0, "맥북"))
    bar.update(1, 1, force=True)
    bar.finish("job: completed (1/1)")
    assert err.getvalue() == "작업 시작: job (키워드 1개)\njob: completed (1/1)\n"
    assert out.getvalue() == "keyword,blog,news,error\n맥북,1,2,\n"


def test_progress_bar_text() -> None:
    assert ProgressBar.render(15, 100, 3.2) == (
        "[####....................] 15/100  15%  3.2/s  남은 시간 0:27"
    )
    assert ProgressBar.render(0, 0, None) == "[########################] 0/0 100%"
