"""The history's pure parts: normalising, Korean initials, and picking ``previous``."""

from __future__ import annotations

from server.history import Observation, initials, is_initials_query, normalise, previous_of


def test_normalise_folds_case_space_and_decomposed_hangul() -> None:
    assert normalise("  \u110f\u1162\u11b7\u1111\u1175\u11bc   MacBook ") == "캠핑 macbook"
    assert normalise("ㅋㅍ") == "ㅋㅍ"  # typed initials stay typed initials


def test_initials() -> None:
    assert initials("캠핑 의자 2") == "ㅋㅍ ㅇㅈ 2"
    assert initials("까치") == "ㄲㅊ"
    assert (
        is_initials_query("ㅋㅍ ㅇ")
        and not is_initials_query("ㅋ핑")
        and not is_initials_query(" ")
    )


def test_previous_of_fresh_and_cached_counts() -> None:
    recent = {
        "blog": [Observation("blog", 30, "naver", 3), Observation("blog", 20, "naver", 2)],
        "news": [Observation("news", 5, "naver", 1)],
    }
    # Fresh: the newest stored one (read before this count was stored).
    assert previous_of(recent, ("blog", "news", "web"), {}) == {
        "blog": {"value": 30, "observedAt": 3},
        "news": {"value": 5, "observedAt": 1},
    }
    # Cached: the newest one older than the cached count (said by the upstream at 3).
    assert previous_of(recent, ("blog", "news"), {"blog": 3, "news": 1}) == {
        "blog": {"value": 20, "observedAt": 2}
    }
