"""Keywords out of the files people keep them in: .txt, .csv/.tsv, .xlsx, or a spreadsheet paste.

One reader for the command line (``doccount submit keywords.xlsx --column 키워드``) and the
dashboard (which sends the file to ``POST /api/documents/keywords/parse``), so both take the
same keywords from the same file:

- a table is read as rows of text cells (a paste or a .txt with tabs is tab-separated; a .csv
  is sniffed for ``,`` ``;`` or tab; Korean Excel saves CSV in CP949, which is tried after UTF-8);
- a first row with a cell like 키워드 / keyword / 검색어 is a header: it is skipped, and its
  keyword column is the default (else the first column);
- the column may be picked by header name or by number (1 = the first);
- a cell that is only a number (``1,234``, ``12.5%``) is never a keyword, nor is an empty one.

Imports nothing of the web app (the command line loads it); openpyxl only for .xlsx.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

HEADER_NAMES = frozenset(
    {"키워드", "검색어", "키워드명", "연관키워드", "keyword", "keywords", "query", "term"}
)
# 1,234 / -3 / 12.5% / 0.5 are figures; 1+1, 10개, 2024년 are things people search for.
NUMBER_ONLY = re.compile(r"^[+-]?(\d[\d,]*)?\.?\d+%?$")
KINDS = ("txt", "csv", "tsv", "xlsx")
MAX_ROWS = 100_000  # a keyword list, not a database: past this the file is refused
SAMPLE_SIZE = 5


class KeywordFileError(ValueError):
    """The file cannot give keywords. ``code`` is stable; ``str()`` is Korean, for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Column:
    index: int  # 0-based
    name: str  # the header cell, or "열 N"
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeywordTable:
    columns: tuple[Column, ...]
    header: bool  # the first row was a header and is not data
    default: int  # the column taken when none is picked

    def pick(self, column: str | int | None) -> Column:
        """The column by header name, by number (1 = first, also as text), or the default."""
        if column is None or column == "":
            return self.columns[self.default]
        if isinstance(column, int) or (isinstance(column, str) and column.strip().isdigit()):
            number = int(column)
            if 1 <= number <= len(self.columns):
                return self.columns[number - 1]
        else:
            wanted = column.strip().casefold()
            for col in self.columns:
                if col.name.strip().casefold() == wanted:
                    return col
        names = ", ".join(c.name for c in self.columns)
        raise KeywordFileError(
            "unknown_column",
            f"'{column}' 열이 없습니다 (있는 열: {names}, 또는 1~{len(self.columns)})",
        )


def kind_of(filename: str) -> str:
    """The reader for a file name: by its extension; anything else is read as text."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext in ("xlsx", "xlsm"):
        return "xlsx"
    if ext in ("csv", "tsv"):
        return ext
    if ext in ("xls",):
        raise KeywordFileError(
            "unsupported_file_type",
            "예전 엑셀 형식(.xls)은 읽을 수 없습니다. .xlsx 또는 .csv로 저장해 주세요",
        )
    return "txt"


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise KeywordFileError(
        "invalid_keyword_file", "파일 인코딩을 읽을 수 없습니다 (UTF-8 또는 CP949)"
    )


def _text_rows(text: str, kind: str) -> list[list[str]]:
    lines = text.splitlines()
    if kind == "txt":
        if any("\t" in line for line in lines):  # a spreadsheet paste
            return [line.split("\t") for line in lines]
        return [[line] for line in lines]
    delimiter = "\t" if kind == "tsv" else None
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t").delimiter
        except csv.Error:
            delimiter = ","
    return [list(row) for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_rows(data: bytes) -> list[list[str]]:
    import openpyxl  # only here: a text list should not pay for it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a file that is not a workbook
        raise KeywordFileError(
            "invalid_keyword_file", "엑셀 파일(.xlsx)을 읽을 수 없습니다 (손상되었거나 다른 형식)"
        ) from None
    try:
        sheet = book.worksheets[0]
        rows: list[list[str]] = []
        for row in sheet.iter_rows(values_only=True):
            rows.append([_cell_text(v) for v in row])
            if len(rows) > MAX_ROWS:
                break
        return rows
    finally:
        book.close()


def is_keyword(cell: str) -> bool:
    return bool(cell.strip()) and not NUMBER_ONLY.match("".join(cell.split()))


def read_table(data: bytes, kind: str) -> KeywordTable:
    if kind not in KINDS:
        raise KeywordFileError("unsupported_file_type", f"읽을 수 없는 파일 형식입니다: {kind}")
    rows = _xlsx_rows(data) if kind == "xlsx" else _text_rows(_decode(data), kind)
    rows = [[c.strip() for c in row] for row in rows if any(c.strip() for c in row)]
    if len(rows) > MAX_ROWS:
        raise KeywordFileError("invalid_keyword_file", f"행이 너무 많습니다 (최대 {MAX_ROWS:,}행)")
    if not rows:
        raise KeywordFileError("no_keywords_in_file", "파일에 키워드가 없습니다")
    width = max(len(r) for r in rows)
    first = rows[0]
    header = any(c.replace(" ", "").casefold() in HEADER_NAMES for c in first)
    default = 0
    if header:
        default = next(
            i for i, c in enumerate(first) if c.replace(" ", "").casefold() in HEADER_NAMES
        )
    data_rows = rows[1:] if header else rows
    columns = []
    for i in range(width):
        name = first[i] if header and i < len(first) and first[i] else f"열 {i + 1}"
        cells = [r[i] for r in data_rows if i < len(r)]
        columns.append(Column(i, name, tuple(" ".join(c.split()) for c in cells if is_keyword(c))))
    return KeywordTable(tuple(columns), header, default)


def read_keywords(data: bytes, filename: str, column: str | int | None = None) -> list[str]:
    """The keywords of one column of a file (see the module's rules)."""
    picked = read_table(data, kind_of(filename)).pick(column)
    if not picked.keywords:
        raise KeywordFileError("no_keywords_in_file", f"'{picked.name}' 열에 키워드가 없습니다")
    return list(picked.keywords)
