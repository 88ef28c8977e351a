"""Layer 5: reports — the clinician report (letters) and the patient handout.

>>> from glutemed.reasoning import load_case
>>> from glutemed.report import write_handout
>>> write_handout(load_case("case.yaml"), "handout.pdf")  # doctest: +SKIP
"""

from glutemed.report._clinician import (
    LETTER_KINDS,
    clinician_report_html,
    clinician_report_pdf,
    readable_citation,
)
from glutemed.report._handout import (
    handout_context,
    handout_plain_text,
    render_handout_html,
    write_handout,
)

__all__ = [
    "LETTER_KINDS",
    "clinician_report_html",
    "clinician_report_pdf",
    "handout_context",
    "handout_plain_text",
    "readable_citation",
    "render_handout_html",
    "write_handout",
]
