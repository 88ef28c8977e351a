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


def test_a_reason_never_reads_from_a_percentage_to_the_same_one() -> None:
    import re
    from pathlib import Path

    from glutemed.knowledge import load_kb
    from glutemed.reasoning import assess, load_case

    kb = load_kb()
    cases = Path(__file__).resolve().parents[2] / "src" / "glutemed" / "examples" / "cases"
    seen = 0
    for path in sorted(cases.glob("*.yaml")):
        for cond in assess(load_case(path), kb, with_intervals=False).conditions:
            for reason in cond.contributions:
                moved = re.search(r"from (.+?) to (.+?)( \(|\.$)", reason.sentence)
                assert moved is not None, reason.sentence
                assert moved.group(1) != moved.group(2), reason.sentence
                seen += 1
    assert seen > 50
