"""The patient's exercise sheet: one exercise a row, a drawing each, dose, feel, when to stop.

Rendered from a :class:`glutemed.pathway.Prescription`; a decision aid (icon arrays of the
trial's absolute outcomes, harms, what is not known) is added when the programme has one, and a
printable log for sessions done and pain after exercise closes the sheet.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from markupsafe import Markup

from glutemed.knowledge import KnowledgeBase, Rule, load_kb
from glutemed.pathway import Prescription
from glutemed.report._figures import decision_aid_context, exercise_svg
from glutemed.report._handout import _env
from glutemed.report._output import check_output_path, write_html_or_pdf

__all__ = ["exercise_sheet_context", "exercise_sheet_html", "write_exercise_sheet"]


def _rule(rule: Rule) -> dict[str, Any]:
    return {"plain": rule.plain, "assumption": rule.basis == "assumption"}


def _weeks(week_from: int | None, week_to: int | None) -> str:
    if week_from is None:
        return "weeks not reported in the source"
    if week_to is None:
        return f"from week {week_from}"
    if week_to == week_from:
        return f"week {week_from}"
    return f"weeks {week_from} to {week_to}"


def exercise_sheet_context(
    rx: Prescription, kb: KnowledgeBase, *, today: dt.date | None = None
) -> dict[str, Any]:
    """Return the words and pictures of the exercise sheet (the template's context)."""
    prog = rx.programme
    stage = rx.stage
    rows = [
        {
            "name": item.exercise.plain_name,
            "picture": Markup(exercise_svg(item.exercise.figure, title=item.exercise.plain_name)),
            "start": item.exercise.start_position,
            "cue": item.exercise.cue,
            "dose": item.dose_lines,
            "feel": item.exercise.feel,
            "easier": item.exercise.easier,
            "harder": item.exercise.harder,
            "adjusted": item.adjusted,
            "as_before": item.as_before,
        }
        for item in rx.items
    ]
    decision = decision_aid_context(prog.decision) if prog.decision is not None else None
    cited = sorted(
        {sid for item in rx.items for sid in item.source_ids} | {s.id for s in prog.sources}
    )
    return {
        "title": prog.plain_name,
        "stage": stage.plain_name,
        "weeks": _weeks(stage.week_from, stage.week_to),
        "protocol": prog.kind == "postoperative_protocol",
        "evidence": prog.evidence_note,
        "rows": rows,
        "instructions": list(stage.instructions),
        "pain": _rule(prog.pain_rule),
        "regress": _rule(prog.regress_when),
        "progress": _rule(stage.progress_when) if stage.progress_when else None,
        "decision": decision,
        "log_days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        "sources": [kb.sources[s].citation for s in cited if s in kb.sources],
        "date": (today or dt.date.today()).isoformat(),
        "versions": (
            f"glutemed {rx.versions.get('engine', '')}, knowledge base {rx.versions.get('kb', '')}"
        ),
    }


def exercise_sheet_html(
    rx: Prescription, kb: KnowledgeBase | None = None, *, today: dt.date | None = None
) -> str:
    """Render the exercise sheet as one self-contained HTML page (pictures inline as SVG)."""
    kb = kb or load_kb()
    template = _env().get_template("exercise_sheet.html.j2")
    return template.render(**exercise_sheet_context(rx, kb, today=today))


def write_exercise_sheet(
    rx: Prescription,
    path: str | Path,
    kb: KnowledgeBase | None = None,
    *,
    today: dt.date | None = None,
) -> Path:
    """Write the exercise sheet to ``path`` as HTML (``.html``) or PDF (``.pdf``).

    Raises
    ------
    InputValueError
        For a suffix other than ``.html``/``.htm``/``.pdf``.
    DataFileError
        When the file cannot be written.
    """
    check_output_path(path, "exercise sheet")
    return write_html_or_pdf(exercise_sheet_html(rx, kb, today=today), path, "exercise sheet")
