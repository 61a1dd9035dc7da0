"""Spreadsheet formula injection: the dashboard's CSV and TSV exports defuse every cell a
spreadsheet would run (a leading = + - @, tab or carriage return), run in the real page."""

from __future__ import annotations

import csv
import io

from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    Dash,
    Serve,
    browser,
    dash,
    serve,
)

PREFIXES = ["=", "+", "-", "@", "\t", "\r"]


async def test_csv_and_tsv_exports_defuse_formula_cells(serve: Serve, dash: Dash) -> None:  # noqa: F811
    page = await dash.page(await serve())
    keywords = [f"{p}HYPERLINK(1)" for p in PREFIXES] + ["맥북 -1", "평범한 키워드"]
    out = await page.evaluate(
        """async (keywords) => {
        const { toCSV, toTSV } = await import('/static/export.js');
        const { rowModel } = await import('/static/table.js');
        const rows = keywords.map((keyword, index) => rowModel(
            { index, keyword, counts: { blog: index }, error: index === 0 ? '@오류' : null },
            ['blog']));
        return { csv: toCSV(rows, ['blog'], { blog: '블로그' }),
                 tsv: toTSV(rows, ['blog'], { blog: '블로그' }) };
    }""",
        keywords,
    )
    assert out["csv"].startswith("\ufeff")
    table = list(csv.reader(io.StringIO(out["csv"][1:], newline="")))
    assert [row[1] for row in table[1:]] == ["'" + k for k in keywords[:6]] + keywords[6:]
    assert table[0][5] == "오류" and table[1][5] == "'@오류"  # the error column too
    assert [row[2] for row in table[1:]] == [str(i) for i in range(len(keywords))]  # numbers

    lines = out["tsv"].split("\n")
    cells = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == len(lines[0].split("\t")) for row in cells)  # no cell split a row
    # A tab or CR inside a TSV cell becomes a space first (it would split the cell), which
    # leaves nothing to run; the rest get the apostrophe.
    assert [row[1] for row in cells] == [
        "'=HYPERLINK(1)",
        "'+HYPERLINK(1)",
        "'-HYPERLINK(1)",
        "'@HYPERLINK(1)",
        " HYPERLINK(1)",
        " HYPERLINK(1)",
        "맥북 -1",
        "평범한 키워드",
    ]
    assert cells[0][5] == "'@오류"
