"""Keyword files: the rules the CLI and the dashboard share (server/keyfiles.py)."""

from __future__ import annotations

import io

import openpyxl
import pytest

from server.keyfiles import KeywordFileError, is_keyword, kind_of, read_keywords, read_table


def xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_numbers_alone_are_never_keywords() -> None:
    assert [is_keyword(c) for c in ("1,234", "-3", "12.5%", "0.5", " 42 ", "")] == [False] * 6
    assert [is_keyword(c) for c in ("1+1", "10개", "2024년 달력", "캠핑")] == [True] * 4


def test_plain_text_one_per_line_with_a_header_skipped() -> None:
    data = "키워드\n캠핑 의자\n\n  맥북  프로 \n1234\n".encode()
    assert read_keywords(data, "k.txt") == ["캠핑 의자", "맥북 프로"]


def test_a_spreadsheet_paste_takes_the_keyword_column_not_the_numbers() -> None:
    # Today's bug: a paste of two columns turned the header and the numbers into keywords.
    paste = "검색량\t키워드\n12,300\t캠핑\n450\t낚시\n".encode()
    table = read_table(paste, "txt")
    assert table.header and [c.name for c in table.columns] == ["검색량", "키워드"]
    assert read_keywords(paste, "paste.txt") == ["캠핑", "낚시"]  # the 키워드 column
    with pytest.raises(KeywordFileError) as err:
        read_keywords(paste, "paste.txt", 1)  # the 검색량 column has only numbers
    assert err.value.code == "no_keywords_in_file"


def test_csv_utf8_bom_and_cp949_and_semicolons() -> None:
    text = 'keyword,volume\n캠핑,100\n"쉼표, 있는",5\n'
    assert read_keywords(text.encode("utf-8-sig"), "a.csv") == ["캠핑", "쉼표, 있는"]
    assert read_keywords(text.encode("cp949"), "a.csv") == ["캠핑", "쉼표, 있는"]
    assert read_keywords("캠핑;1\n낚시;2\n".encode(), "b.csv") == ["캠핑", "낚시"]


def test_xlsx_column_by_name_or_number_and_first_by_default() -> None:
    data = xlsx(
        [["순위", "키워드", "메모"], [1, "캠핑 의자", "x"], [2, "낚시", None], [3, None, "y"]]
    )
    assert read_keywords(data, "k.xlsx") == ["캠핑 의자", "낚시"]
    assert read_keywords(data, "k.xlsx", "메모") == ["x", "y"]
    assert read_keywords(data, "k.xlsx", 3) == ["x", "y"]
    plain = xlsx([["캠핑", 10], ["낚시", 20]])
    table = read_table(plain, "xlsx")
    assert not table.header and table.default == 0
    assert read_keywords(plain, "k.xlsx") == ["캠핑", "낚시"]
    with pytest.raises(KeywordFileError) as err:
        read_keywords(data, "k.xlsx", "없는열")
    assert err.value.code == "unknown_column" and "키워드" in str(err.value)


def test_unreadable_files_say_why() -> None:
    with pytest.raises(KeywordFileError) as err:
        kind_of("old.xls")
    assert err.value.code == "unsupported_file_type"
    with pytest.raises(KeywordFileError) as err:
        read_table(b"not a zip", "xlsx")
    assert err.value.code == "invalid_keyword_file"
    with pytest.raises(KeywordFileError) as err:
        read_keywords(b"\n 1 \n2\n", "k.txt")
    assert err.value.code == "no_keywords_in_file"
