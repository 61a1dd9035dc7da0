"""Publish windows (server/live/pace.py): how long a feed waits after a page."""

from __future__ import annotations

import pytest

from server.live.pace import MAX_S, MIN_S, Pace


def test_the_pause_is_the_factor_times_the_fan_out() -> None:
    assert Pace(2.0).after(0.010, 0.0) == pytest.approx(0.020)
    assert Pace(3.0).after(0.004, 0.0) == pytest.approx(0.012)


def test_the_pause_never_exceeds_the_maximum() -> None:
    assert Pace(2.0).after(1.0, 0.0) == MAX_S
    assert Pace(2.0).after(MAX_S / 2 + 0.001, 0.0) == MAX_S


def test_a_cheap_fan_out_waits_for_nothing() -> None:
    assert Pace(2.0).after(MIN_S / 2 - 1e-6, 0.0) == 0.0
    assert Pace(2.0).after(MIN_S / 2, 0.0) == pytest.approx(MIN_S)
    assert Pace(2.0).after(0.0, 0.0) == 0.0


def test_factor_zero_or_less_never_waits() -> None:
    assert Pace(0.0).after(10.0, 0.0) == 0.0
    assert Pace(-1.0).after(10.0, 0.0) == 0.0


def test_a_feed_whose_events_come_further_apart_than_a_window_waits_for_nothing() -> None:
    """It had waited 30 ms for its page: a 20 ms window would gather nothing, and could only
    delay the next event."""
    assert Pace(2.0).after(0.010, 0.030) == 0.0
    assert Pace(2.0).after(0.010, 0.020) == 0.0
    assert Pace(2.0).after(0.010, 0.019) == pytest.approx(0.020)
