"""Layer 5: reports — the patient handout (and, later, the clinician report).

>>> from glutemed.reasoning import load_case
>>> from glutemed.report import write_handout
>>> write_handout(load_case("case.yaml"), "handout.pdf")  # doctest: +SKIP
"""

from glutemed.report._handout import (
    handout_context,
    handout_plain_text,
    render_handout_html,
    write_handout,
)

__all__ = [
    "handout_context",
    "handout_plain_text",
    "render_handout_html",
    "write_handout",
]
