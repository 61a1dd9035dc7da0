"""A job's results as a table, and that table as .xlsx (XlsxWriter) or .csv (Excel-ready).

One table for every surface (the export endpoint, the dashboard's buttons, the CLI), so the
three give the same columns and values. Numbers stay numbers; Naver's "< 10" stays "< 10"
(not a number, and never a 0 or a plain 10); a count that failed is the word 오류, marked.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import xlsxwriter

from server.categories import CATEGORIES

FORMATS = ("xlsx", "csv")
FAILED = "오류"
BELOW = "< 10"
# Excel runs a cell that starts with one of these as a formula (CSV injection): such text is
# written with a leading apostrophe, which Excel shows as plain text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = int | float | str | None


@dataclass(frozen=True, slots=True)
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    failed: set[tuple[int, int]]  # (row, column) of cells whose lookup failed
    ratio_columns: frozenset[int] = frozenset()  # 경쟁률 columns: two decimals, not #,##0


def _volume_cell(row: dict[str, Any] | None, part: str) -> Cell:
    if row is None:
        return None
    if row.get(f"{part}Below"):
        return BELOW
    value = row.get(part)
    return value if isinstance(value, int) else None


def has_volumes(results: list[dict[str, Any]]) -> bool:
    return any(
        r.get("searchVolume") is not None or "searchVolume" in (r.get("errors") or {})
        for r in results
    )


def job_table(job: dict[str, Any]) -> Table:
    """키워드, one column per category, 합계, then (when the job has volumes) PC / 모바일 / 총
    검색량, one 경쟁률 per category ("경쟁률 (블로그)": that category's documents ÷ monthly
    searches; the dashboard shows one at a time, a sheet can hold them all) and 광고 경쟁도,
    then 오류."""
    categories: list[str] = list(job.get("categories") or [])
    results: list[dict[str, Any]] = list(job.get("results") or [])
    volumes = has_volumes(results)
    labels = [CATEGORIES[c].label_ko if c in CATEGORIES else c for c in categories]
    headers = ["키워드", *labels, "합계"]
    ratio_columns: frozenset[int] = frozenset()
    if volumes:
        headers += ["PC 검색량", "모바일 검색량", "총 검색량"]
        ratio_columns = frozenset(range(len(headers), len(headers) + len(categories)))
        headers += [f"경쟁률 ({label})" for label in labels]
        headers.append("광고 경쟁도")
    headers.append("오류")
    rows: list[list[Cell]] = []
    failed: set[tuple[int, int]] = set()
    for r_index, result in enumerate(results):
        counts: dict[str, int] = result.get("counts") or {}
        errors: dict[str, str] = result.get("errors") or {}
        row: list[Cell] = [result.get("keyword", "")]
        for c_index, category in enumerate(categories, start=1):
            if category in counts:
                row.append(counts[category])
            elif category in errors:
                row.append(FAILED)
                failed.add((r_index, c_index))
            else:
                row.append(None)
        row.append(sum(counts.values()) if len(counts) == len(categories) else None)
        if volumes:
            vol = result.get("searchVolume")
            start = len(row)
            row += [
                _volume_cell(vol, "pc"),
                _volume_cell(vol, "mobile"),
                _volume_cell(vol, "total"),
            ]
            ratios = result.get("ratio") or {}
            for category in categories:
                ratio = ratios.get(category)
                row.append(ratio if isinstance(ratio, int | float) else None)
            row.append(vol.get("compIdx") if vol else None)
            if vol is None and "searchVolume" in errors:
                row[start : start + 3] = [FAILED] * 3
                failed.update((r_index, start + i) for i in range(3))
        messages = [result["error"]] if result.get("error") else []
        if "searchVolume" in errors:
            messages.append(f"검색량: {errors['searchVolume']}")
        row.append("; ".join(messages) or None)
        rows.append(row)
    return Table(headers, rows, failed, ratio_columns)


def _csv_cell(value: Cell) -> Cell:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    # A whole 경쟁률 (19290.0) is written "19290", as the dashboard's copy and a sheet show it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def to_csv(table: Table) -> bytes:
    """UTF-8 with a BOM (Excel reads Korean right only with it), CRLF rows, formulas defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow([_csv_cell(v) for v in row])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(table: Table, *, sheet: str = "결과") -> bytes:
    """Header row frozen with an autofilter; numbers as numbers; failed cells red."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        # Keyword text is data, never a formula or a link, whatever it starts with.
        {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False},
    )
    ws = book.add_worksheet(sheet[:31])
    head = book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
    number = book.add_format({"num_format": "#,##0"})
    ratio = book.add_format({"num_format": "0.00"})
    failed = book.add_format({"font_color": "#B00020", "bg_color": "#FDECEA"})
    for c, name in enumerate(table.headers):
        ws.write_string(0, c, name, head)
    for r, row in enumerate(table.rows, start=1):
        for c, value in enumerate(row):
            if (r - 1, c) in table.failed:
                ws.write_string(r, c, str(value or FAILED), failed)
            elif value is None:
                ws.write_blank(r, c, None)
            elif isinstance(value, int | float):
                ws.write_number(r, c, value, ratio if c in table.ratio_columns else number)
            else:
                ws.write_string(r, c, value)
    ws.freeze_panes(1, 1)
    ws.autofilter(0, 0, max(len(table.rows), 1), len(table.headers) - 1)
    ws.set_column(0, 0, 24)
    ws.set_column(1, len(table.headers) - 2, 12)
    ws.set_column(len(table.headers) - 1, len(table.headers) - 1, 40)
    book.close()
    return buffer.getvalue()


def render(job: dict[str, Any], fmt: str) -> bytes:
    table = job_table(job)
    return to_xlsx(table) if fmt == "xlsx" else to_csv(table)


CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
