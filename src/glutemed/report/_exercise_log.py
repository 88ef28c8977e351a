"""The patient's printed exercise log: one row per day and exercise, boxes for done and pain.

The patient ticks a box for each session done and writes the pain during and after the exercise
(0-10) and whether it had settled by the next morning. The last table adds up each exercise in
the same order and with the same words as the clinic's adherence form, so the totals are typed in
at the next visit as they stand.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from glutemed.errors import InputValueError, Problem
from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.pathway import Prescription
from glutemed.report._handout import _env
from glutemed.report._output import check_output_path, write_html_or_pdf

__all__ = ["LOG_DAYS_MAX", "exercise_log_context", "exercise_log_html", "write_exercise_log"]

#: The longest log printed at once (8 weeks).
LOG_DAYS_MAX = 56


def exercise_log_context(
    rx: Prescription,
    kb: KnowledgeBase,
    *,
    days: int = 14,
    start: dt.date | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Return the log's rows and words (the template's context).

    Raises
    ------
    InputValueError
        For ``days`` outside 1 to :data:`LOG_DAYS_MAX`.
    """
    if isinstance(days, bool) or not 1 <= days <= LOG_DAYS_MAX:
        raise InputValueError(
            "invalid number of days",
            [Problem("days", f"a whole number of days from 1 to {LOG_DAYS_MAX}", repr(days)[:40])],
        )
    exercises = [
        {
            "name": item.exercise.plain_name,
            "boxes": 0 if item.dose.supervised_only else (item.dose.times_per_day or 1),
            "dose": "; ".join(item.dose_lines),
            "clinic_only": item.dose.supervised_only,
        }
        for item in rx.items
    ]
    day_rows = []
    for n in range(days):
        date = start + dt.timedelta(days=n) if start else None
        day_rows.append(
            {
                "label": date.strftime("%a %d %b") if date else f"Day {n + 1}",
                "exercises": exercises,
            }
        )
    prog = rx.programme
    return {
        "title": f"{prog.plain_name}: my exercise log",
        "stage": rx.stage.plain_name,
        "days": day_rows,
        "exercises": exercises,
        "pain": prog.pain_rule.plain,
        "pain_assumption": prog.pain_rule.basis == "assumption",
        "date": (today or dt.date.today()).isoformat(),
        "versions": (
            f"glutemed {rx.versions.get('engine', '')}, knowledge base {rx.versions.get('kb', '')}"
        ),
    }


def exercise_log_html(
    rx: Prescription,
    kb: KnowledgeBase | None = None,
    *,
    days: int = 14,
    start: dt.date | None = None,
    today: dt.date | None = None,
) -> str:
    """Render the printable log as one self-contained HTML page."""
    kb = kb or load_kb()
    template = _env().get_template("exercise_log.html.j2")
    return template.render(**exercise_log_context(rx, kb, days=days, start=start, today=today))


def write_exercise_log(
    rx: Prescription,
    path: str | Path,
    kb: KnowledgeBase | None = None,
    *,
    days: int = 14,
    start: dt.date | None = None,
) -> Path:
    """Write the log to ``path`` as HTML (``.html``) or PDF (``.pdf``)."""
    check_output_path(path, "exercise log")
    html = exercise_log_html(rx, kb, days=days, start=start)
    return write_html_or_pdf(html, path, "exercise log")
