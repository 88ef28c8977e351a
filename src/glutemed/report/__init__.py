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
from glutemed.report._exercise_log import (
    LOG_DAYS_MAX,
    exercise_log_context,
    exercise_log_html,
    write_exercise_log,
)
from glutemed.report._exercise_sheet import (
    exercise_sheet_context,
    exercise_sheet_html,
    write_exercise_sheet,
)
from glutemed.report._figures import (
    decision_aid_for,
    decision_aid_html,
    exercise_svg,
    icon_array_svg,
)
from glutemed.report._handout import (
    handout_context,
    handout_plain_text,
    render_handout_html,
    write_handout,
)

__all__ = [
    "LETTER_KINDS",
    "LOG_DAYS_MAX",
    "clinician_report_html",
    "clinician_report_pdf",
    "decision_aid_for",
    "decision_aid_html",
    "exercise_log_context",
    "exercise_log_html",
    "exercise_sheet_context",
    "exercise_sheet_html",
    "exercise_svg",
    "handout_context",
    "handout_plain_text",
    "icon_array_svg",
    "readable_citation",
    "render_handout_html",
    "write_exercise_log",
    "write_exercise_sheet",
    "write_handout",
]
