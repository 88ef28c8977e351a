"""Probabilities as a clinician reads them: never a bare 0 % or 100 % for an estimate."""

from __future__ import annotations


def percent(p: float, digits: int = 0, space: bool = False) -> str:
    """Format a probability as a percentage with ``digits`` decimals.

    A model estimate is never certain: a value that would round to 100 % is shown as
    "> 99 %" (at 0 decimals; "> 99.9 %" at 1) and one that would round to 0 % but is not zero
    as "< 1 %" ("< 0.1 %"). Exactly 0 and 1 (a logical certainty) print as they are.
    """
    unit = " %" if space else "%"
    step = 10.0 ** -(digits + 2)  # one unit of the last digit, as a probability
    text = f"{100 * p:.{digits}f}"
    if 0.0 < p < 1.0:
        gap = " " if space else ""
        # decided on the printed digits: formatting rounds half to even (0.5 prints as "0")
        if float(text) >= 100.0:
            return f">{gap}{100 * (1.0 - step):.{digits}f}{unit}"
        if float(text) <= 0.0:
            return f"<{gap}{100 * step:.{digits}f}{unit}"
    return f"{text}{unit}"
