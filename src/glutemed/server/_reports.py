"""Gather a visit's records into the plain data the report layer renders."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from fastapi.responses import Response
from sqlalchemy.orm import Session

from glutemed import store
from glutemed.server import _services as svc
from glutemed.server._deps import AppState

if TYPE_CHECKING:
    from glutemed.knowledge import KnowledgeBase

__all__ = [
    "handout_html",
    "handout_links",
    "handout_renderer",
    "handout_response",
    "letter_response",
    "report_data",
]


def _usable_visit(db: Session, actor: store.Actor, visit_id: int) -> store.Visit:
    """A visit that letters and handouts may report: not one that was voided."""
    from glutemed.errors import Problem

    visit = store.get_visit(db, actor, visit_id)
    if visit.voided_at is not None:
        raise store.ConflictError(
            "the visit was voided: it is not reported",
            [Problem("visit_id", "a visit in use", "a voided visit", "report a later visit")],
        )
    return visit


def report_data(state: AppState, db: Session, actor: store.Actor, visit_id: int) -> dict[str, Any]:
    """Return the data of :func:`glutemed.report.clinician_report_html` for a visit."""
    kb = state.kb
    visit = _usable_visit(db, actor, visit_id)
    patient = store.get_patient(db, actor, visit.patient_id)
    svc.audit_access(db, actor, "export", "visits", visit.id, "clinician report")
    assessment = store.latest_assessment(db, actor, visit.id)
    plan = store.latest_care_plan(db, actor, visit.id)
    clinic = db.get(store.Clinic, actor.clinic_id)
    treatments = [
        {
            "name": kb.treatments[t.treatment_id].name
            if t.treatment_id in kb.treatments
            else t.treatment_id,
            "given_on": t.given_on.isoformat(),
            "response": t.response,
            "dose": t.dose,
        }
        for t in store.list_treatments_given(db, actor, patient.id)
        if t.given_on <= visit.visit_date
    ]
    outcomes = svc.outcome_series(
        kb,
        [
            o
            for o in store.list_outcomes(db, actor, patient.id)
            if o.measured_on <= visit.visit_date
        ],
    )
    movement: list[dict[str, Any]] = [
        {
            "task": m.task,
            "findings": m.result.get("findings") or {},
            "measures": m.result.get("measures") or {},
            "picture_png": m.plot_png or b"",
            "peak_pelvic_drop": m.result.get("peak_pelvic_drop"),
            "still_png_data_uri": None
            if m.still_png is None
            else "data:image/png;base64," + base64.b64encode(m.still_png).decode("ascii"),
        }
        for m in store.list_movements(db, actor, visit.id)
    ]
    visit_dates = {v.id: v.visit_date for v in store.list_visits(db, actor, patient.id)}
    case = visit.case
    ids = list(case.get("findings") or {}) + list(case.get("imaging") or {})
    for m in movement:
        ids.extend(m["findings"])
    derived_absent = _derived_absent(kb, case)
    for implied in derived_absent.values():
        ids.extend(implied)
    return {
        "clinic": clinic.name if clinic else "",
        "letterhead": state.settings.letterhead_lines(),
        "author": actor.display_name or actor.username,
        "patient": {
            "given_name": patient.given_name,
            "family_name": patient.family_name,
            "birth_date": None if patient.birth_date is None else patient.birth_date.isoformat(),
            "identifier": patient.identifier,
            "sex": patient.sex,
        },
        "visit": {"visit_date": visit.visit_date.isoformat(), "note": visit.note, "case": case},
        "assessment": None if assessment is None else assessment.result,
        "plan": None
        if plan is None
        else {"status": plan.status, "generated": plan.generated, "decision": plan.decision},
        "treatments": treatments,
        "outcomes": outcomes,
        "adherence": [
            {
                "date": visit_dates[r.visit_id].isoformat(),
                "programme": kb.programmes[r.programme_id].name
                if r.programme_id in kb.programmes
                else "",
                "stage": next(
                    (s.name for s in kb.programmes[r.programme_id].stages if s.id == r.stage_id),
                    "",
                )
                if r.programme_id in kb.programmes
                else "",
                "sessions_done": r.sessions_done,
                "sessions_prescribed": r.sessions_prescribed,
                "pain_during_max": r.pain_during_max,
                "pain_after_max": r.pain_after_max,
                "suggestion": r.suggestion,
                "decision": r.decision,
            }
            for r in store.list_adherence(db, actor, patient.id)
            if visit_dates.get(r.visit_id, visit.visit_date) <= visit.visit_date
        ],
        "movement": movement,
        "finding_names": {f: kb.findings[f].name for f in ids if f in kb.findings},
        "derived_absent": derived_absent,
        "treatment_names": {t.id: t.name for t in kb.treatments.values()},
        "sources": {s.id: s.citation for s in kb.sources.values()},
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _derived_absent(kb: KnowledgeBase, case: dict[str, Any]) -> dict[str, list[str]]:
    """For each positive derived finding of the case (a complete pain map, a normal radiograph),
    the findings it sets absent that the case does not record itself."""
    from glutemed.reasoning import network_for

    recorded = {
        f: v
        for section in ("findings", "imaging")
        for f, v in (case.get(section) or {}).items()
        if v != "not_done"
    }
    return {fid: list(f) for fid, f in network_for(kb).implied_absent(recorded).items()}


def handout_links(visit_id: int) -> list[dict[str, str]]:
    """Links to the patient handout of :mod:`glutemed.report` (none if it is not installed)."""
    if handout_renderer() is None:
        return []
    return [
        {"href": f"/visits/{visit_id}/handout", "label": "Patient handout"},
        {"href": f"/visits/{visit_id}/handout.pdf", "label": "Patient handout (PDF)"},
    ]


def handout_renderer() -> Any:
    """Return :func:`glutemed.report.render_handout_html`, or None."""
    try:
        import glutemed.report as report
    except ImportError:  # pragma: no cover - the package always exists
        return None
    return getattr(report, "render_handout_html", None)


def handout_html(
    state: AppState,
    db: Session,
    actor: store.Actor,
    visit_id: int,
    *,
    toolbar: Sequence[tuple[str, str]] = (),
    script_src: str = "",
) -> str:
    """Render the patient handout for a visit's case and its (latest) care plan.

    The plan is remade with :func:`glutemed.pathway.plan` for the visit date (deterministic); when
    the clinician modified the plan, the recommendations they unticked are left out. ``toolbar``
    and ``script_src`` add the screen-only links and print button of the page.
    """
    import dataclasses

    from glutemed.errors import Problem
    from glutemed.reasoning import case_from_dict

    render = handout_renderer()
    plan_fn = svc._feature("pathway")
    if render is None or plan_fn is None:
        raise svc.FeatureUnavailableError(
            "the patient handout is not available in this installation",
            [
                Problem(
                    "report",
                    "glutemed.report.render_handout_html and glutemed.pathway.plan",
                    "missing",
                )
            ],
        )
    visit = _usable_visit(db, actor, visit_id)
    case = case_from_dict(dict(visit.case))
    care = plan_fn(case, kb=state.kb, today=visit.visit_date)
    stored = store.latest_care_plan(db, actor, visit_id)
    if stored is not None and stored.status == "modified":
        keep = set(stored.decision.get("selected") or [])
        care = dataclasses.replace(
            care, recommendations=[r for r in care.recommendations if r.id in keep]
        )
    html: str = render(case, care, state.kb, toolbar=toolbar, script_src=script_src)
    svc.audit_access(db, actor, "export", "visits", visit.id, "patient handout")
    return html


def _document(body: bytes | str, fmt: str, filename: str) -> Response:
    if fmt == "pdf":
        return Response(
            body,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="{filename}.pdf"',
                "Cache-Control": "no-store",
            },
        )
    return Response(body, media_type="text/html", headers={"Cache-Control": "no-store"})


def letter_response(
    state: AppState,
    db: Session,
    actor: store.Actor,
    visit_id: int,
    to: str,
    *,
    fmt: Literal["html", "pdf"],
    toolbar: Sequence[tuple[str, str]] = (),
    script_src: str = "",
) -> Response:
    """The letter of a visit as HTML (``toolbar``/``script_src`` for the page) or PDF.

    One action for the JSON API's ``report.html``/``report.pdf`` and the page.
    """
    from glutemed.report import clinician_report_html, clinician_report_pdf

    data = report_data(state, db, actor, visit_id)
    if fmt == "pdf":
        return _document(
            clinician_report_pdf(data, letter_to=to), "pdf", f"glutemed-visit-{visit_id}-{to}"
        )
    html = clinician_report_html(data, letter_to=to, toolbar=toolbar, script_src=script_src)
    return _document(html, "html", "")


def handout_response(
    state: AppState,
    db: Session,
    actor: store.Actor,
    visit_id: int,
    *,
    fmt: Literal["html", "pdf"],
    toolbar: Sequence[tuple[str, str]] = (),
    script_src: str = "",
) -> Response:
    """The patient handout of a visit as HTML or PDF (one action for the API and the page)."""
    html = handout_html(state, db, actor, visit_id, toolbar=toolbar, script_src=script_src)
    if fmt == "pdf":
        from weasyprint import HTML  # type: ignore[import-untyped]

        return _document(
            bytes(HTML(string=html).write_pdf() or b""), "pdf", f"handout-visit-{visit_id}"
        )
    return _document(html, "html", "")


def pdf_response(html: str, filename: str) -> Any:
    """Render ``html`` to PDF (WeasyPrint) and return it as an inline, uncached response."""
    from fastapi.responses import Response
    from weasyprint import HTML

    pdf = HTML(string=html).write_pdf()
    return Response(
        bytes(pdf or b""),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
