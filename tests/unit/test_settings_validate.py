"""Settings that make no sense are refused at start, with a message that names them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from server.settings import Settings, validate


def test_defaults_are_valid() -> None:
    validate(Settings())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("feed_pause_factor", -1.0, "feed pause factor must be >= 0"),
        ("lease_s", 0.0, "lease must be > 0 seconds"),
        ("lease_s", -5.0, "lease must be > 0 seconds"),
        ("rate_per_s", 0.0, "rate must be > 0"),
    ],
)
def test_bad_values_are_refused(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate(replace(Settings(), **{field: value}))


def test_factor_zero_is_allowed() -> None:
    validate(replace(Settings(), feed_pause_factor=0.0))
