"""KST days: Naver's daily quota resets at midnight in Seoul, nine hours ahead of UTC."""

from __future__ import annotations

from server.kst import format_kst, kst_date, kst_day, next_kst_midnight_ms

LAST_MS_OF_MAY_1 = 1714575599999  # 2024-05-01 23:59:59.999 KST = 14:59:59.999 UTC
MIDNIGHT_MAY_2 = 1714575600000


def test_the_day_turns_at_midnight_kst_not_utc() -> None:
    assert kst_date(LAST_MS_OF_MAY_1) == "2024-05-01"
    assert kst_date(MIDNIGHT_MAY_2) == "2024-05-02"
    assert kst_day(MIDNIGHT_MAY_2) == kst_day(LAST_MS_OF_MAY_1) + 1
    assert kst_date(0) == "1970-01-01" and kst_day(0) == 0


def test_next_midnight_is_strictly_after() -> None:
    assert next_kst_midnight_ms(LAST_MS_OF_MAY_1) == MIDNIGHT_MAY_2
    assert next_kst_midnight_ms(MIDNIGHT_MAY_2) == MIDNIGHT_MAY_2 + 24 * 3600 * 1000


def test_format_for_people() -> None:
    assert format_kst(MIDNIGHT_MAY_2) == "2024-05-02 00:00 KST"
