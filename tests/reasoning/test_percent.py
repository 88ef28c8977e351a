"""Probabilities shown to clinicians never round an estimate to a bare 0 % or 100 %."""

from __future__ import annotations

import pytest

from glutemed.reasoning import percent


@pytest.mark.parametrize(
    ("p", "digits", "space", "shown"),
    [
        (0.996, 0, False, ">99%"),
        (0.9949, 0, False, "99%"),
        (0.99996, 1, True, "> 99.9 %"),
        (0.004, 0, True, "< 1 %"),
        (0.006, 0, False, "1%"),
        (0.0004, 1, False, "<0.1%"),
        (0.22, 0, True, "22 %"),
        (0.0, 0, False, "0%"),  # a logical certainty prints as it is
        (1.0, 0, True, "100 %"),
        # exactly half a unit: formatting rounds half to even, so 0.5 % would print as "0%"
        (0.005, 0, False, "<1%"),
        (0.995, 0, False, ">99%"),
        (0.015, 0, False, "2%"),
    ],
)
def test_percent(p: float, digits: int, space: bool, shown: str) -> None:
    assert percent(p, digits, space) == shown
