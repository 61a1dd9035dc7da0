"""Publish windows (server/live/pace.py): how long a feed waits after a page."""

from __future__ import annotations

import pytest

from server.live.pace import MAX_S, MIN_S, Pace


def test_the_pause_is_the_factor_times_the_fan_out() -> None:
    assert Pace(2.0).after(0.010) == pytest.approx(0.020)
    assert Pace(3.0).after(0.004) == pytest.approx(0.012)


def test_the_pause_never_exceeds_the_maximum() -> None:
    assert Pace(2.0).after(1.0) == MAX_S
    assert Pace(2.0).after(MAX_S / 2 + 0.001) == MAX_S


def test_a_cheap_fan_out_waits_for_nothing() -> None:
    assert Pace(2.0).after(MIN_S / 2 - 1e-6) == 0.0
    assert Pace(2.0).after(MIN_S / 2) == pytest.approx(MIN_S)
    assert Pace(2.0).after(0.0) == 0.0


def test_factor_zero_or_less_never_waits() -> None:
    assert Pace(0.0).after(10.0) == 0.0
    assert Pace(-1.0).after(10.0) == 0.0
