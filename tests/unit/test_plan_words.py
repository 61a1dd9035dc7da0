"""Issue 14 in the CLI: the quota plan of a job in words, before it starts."""

from __future__ import annotations

from server.client.types import plan_text


def test_a_plan_that_fits_today() -> None:
    plan = {"callsNeeded": 1200, "callsLeftToday": 24_000, "fits": True, "finishesNotBefore": None}
    assert plan_text(plan) == "API 호출 최대 1,200회 · 오늘 남은 한도 24,000회 · 오늘 안에 끝납니다"


def test_a_plan_past_today_says_from_which_kst_midnight() -> None:
    plan = {
        "callsNeeded": 27_000,
        "callsLeftToday": 100,
        "fits": False,
        "finishesNotBefore": 1714575600000,  # 2024-05-02 00:00 KST
    }
    assert plan_text(plan) == (
        "API 호출 최대 27,000회 · 오늘 남은 한도 100회 · 오늘 한도를 넘습니다: "
        "한도 초기화 후 이어서 조회하며 2024-05-02 00:00 KST 이후에 끝납니다"
    )
