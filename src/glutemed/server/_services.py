"""What the pages and the JSON API share: building cases, running the engines, storing results.

The engines below the server (reasoning, pathway, questionnaires, motion, report) know nothing of
the database; this module feeds them from the records and stores what they return, stamped with
the engine and knowledge-base versions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import logging
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from threading import Lock
from typing import Any

from sqlalchemy.orm import Session

from glutemed import store
from glutemed._checks import check_option, short_repr
from glutemed.errors import GlutemedError, InputValueError, MotionDataError, Problem
from glutemed.knowledge import KnowledgeBase
from glutemed.reasoning import Case, assess, case_from_dict, validate_case
from glutemed.store import Actor

__all__ = [
    "MAX_STILL_BYTES",
    "MOTION_SUFFIXES",
    "MOTION_TASKS",
    "FeatureUnavailableError",
    "UploadTooLargeError",
    "age_at",
    "analyse_movement",
    "assess_case",
    "assess_case_json",
    "assess_parsed_case_json",
    "assessment_cache_key",
    "audit_access",
    "build_case",
    "cached_assessment",
    "check_visit_date",
    "create_visit_with_assessment",
    "feature_available",
    "generate_plan",
    "outcome_series",
    "patient_dict",
    "read_upload",
    "reassess_visit",
    "record_outcome",
    "score_only",
    "store_movement",
    "store_movement_still",
    "update_visit_case",
]

log = logging.getLogger("glutemed.server")

MOTION_TASKS = ("walk", "single_leg_stance", "single_leg_squat")
MOTION_SUFFIXES = (".c3d", ".trc", ".csv", ".json")


def audit_access(
    db: Any, actor: store.Actor, action: str, entity_type: str, entity_id: int, what: str = ""
) -> None:
    """Audit a view or export of a record and commit it (the request itself only reads)."""
    store.record_access(db, actor, action, entity_type, entity_id, what)
    db.commit()


class FeatureUnavailableError(GlutemedError):
    """A part of glutemed this feature needs is not installed (HTTP 503)."""


class UploadTooLargeError(InputValueError):
    """An upload beyond the configured size (HTTP 413)."""


_FEATURES = {
    "pathway": ("glutemed.pathway", "plan", "care plans"),
    "questionnaires": ("glutemed.questionnaires", "score", "questionnaire scoring"),
    "motion": ("glutemed.motion", "analyse_file", "movement analysis"),
}


def _feature(name: str) -> Callable[..., Any] | None:
    module_name, attr, _ = _FEATURES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    fn = getattr(module, attr, None)
    return fn if callable(fn) else None


def feature_available(name: str) -> bool:
    """True if the engine behind a feature (``pathway``, ``questionnaires``, ``motion``) exists."""
    return _feature(name) is not None


def _require(name: str) -> Callable[..., Any]:
    fn = _feature(name)
    if fn is None:
        module_name, attr, what = _FEATURES[name]
        raise FeatureUnavailableError(
            f"{what} are not available in this installation",
            [Problem(name, f"{module_name}.{attr}", "a missing module", "update glutemed")],
        )
    return fn


# --------------------------------------------------------------------------- patients and cases


def age_at(birth_date: dt.date | None, on: dt.date) -> float | None:
    """Return the age in whole years on a date (None without a birth date)."""
    if birth_date is None:
        return None
    years = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    return float(max(years, 0))


def patient_dict(patient: store.Patient) -> dict[str, Any]:
    """Return a patient's record as JSON-ready data."""
    return {
        "id": patient.id,
        "identifier": patient.identifier,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "birth_date": None if patient.birth_date is None else patient.birth_date.isoformat(),
        "sex": patient.sex,
        "notes": patient.notes,
        "archived": patient.archived,
        "version": patient.version,
        "created_at": patient.created_at.isoformat(),
        "updated_at": patient.updated_at.isoformat(),
    }


def build_case(
    db: Session,
    actor: Actor,
    patient: store.Patient,
    visit_date: dt.date,
    case: Mapping[str, Any],
) -> dict[str, Any]:
    """Complete a case from the records: demographics, treatments tried and outcomes.

    The age comes from the birth date (when known), the sex from the patient's record,
    ``treatments_tried`` from the treatments recorded up to the visit date and ``outcomes`` from
    the questionnaire totals up to the visit date. No identifier enters the case.
    """
    out = dict(case)
    demographics = dict(out.get("patient") or {})
    age = age_at(patient.birth_date, visit_date)
    if age is not None:
        demographics["age_years"] = age
    demographics["sex"] = patient.sex
    out["patient"] = demographics
    out["assessment_date"] = visit_date.isoformat()
    out["label"] = ""
    given = store.list_treatments_given(db, actor, patient.id)
    tried = [
        {
            "id": t.treatment_id,
            "start_date": t.given_on.isoformat(),
            "weeks": t.weeks,
            "dose": t.dose,
            "response": t.response,
        }
        for t in sorted(given, key=lambda t: (t.given_on, t.id))
        if t.given_on <= visit_date
    ]
    if "treatments_tried" not in case or not case.get("treatments_tried"):
        out["treatments_tried"] = tried
    outcomes = [
        {"instrument": o.instrument, "date": o.measured_on.isoformat(), "total": o.total}
        for o in store.list_outcomes(db, actor, patient.id)
        if o.measured_on <= visit_date and o.total is not None
    ]
    if "outcomes" not in case or not case.get("outcomes"):
        out["outcomes"] = outcomes
    return out


class _AssessmentCache:
    """A small LRU cache of serialised results: the engine is seeded, so equal cases (and an
    equal knowledge base) give equal results."""

    def __init__(self, size: int = 512) -> None:
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._size = size
        self._lock = Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


_CACHE = _AssessmentCache()


def assessment_cache_key(kb: KnowledgeBase, case: Case) -> str:
    """Key of a case's result in the assessment cache (knowledge base hash + the case's JSON)."""
    return kb.manifest_sha256 + ":" + case.model_dump_json()


def cached_assessment(key: str) -> bytes | None:
    """Return the stored JSON of an earlier assessment under ``key``, or None.

    Only cases that passed validation are ever stored, so a hit needs no new validation. Cheap
    enough to run on the event loop.
    """
    return _CACHE.get(key)


def assess_parsed_case_json(kb: KnowledgeBase, case: Case, key: str | None = None) -> bytes:
    """Validate a parsed case against the knowledge base and assess it (cached).

    Returns ``Assessment.to_dict()`` as JSON bytes. ``key`` is
    :func:`assessment_cache_key` of the case when the caller has it already.
    """
    validate_case(case, kb)
    key = key or assessment_cache_key(kb, case)
    cached = _CACHE.get(key)
    if cached is None:
        cached = json.dumps(assess(case, kb).to_dict(), separators=(",", ":")).encode()
        _CACHE.put(key, cached)
    return cached


def assess_case_json(kb: KnowledgeBase, case: Mapping[str, Any]) -> tuple[Case, bytes]:
    """Validate and assess a case; return it and ``Assessment.to_dict()`` as JSON bytes."""
    parsed = case_from_dict(dict(case))
    return parsed, assess_parsed_case_json(kb, parsed)


def assess_case(kb: KnowledgeBase, case: Mapping[str, Any]) -> tuple[Case, dict[str, Any]]:
    """Validate a case against the knowledge base and assess it.

    Returns
    -------
    case, result
        The validated case and ``Assessment.to_dict()`` (a fresh copy, with its version stamp).

    Raises
    ------
    CaseValidationError
        With every problem (unknown ids, impossible values), each naming its field.
    """
    parsed, data = assess_case_json(kb, case)
    result: dict[str, Any] = json.loads(data)
    return parsed, result


def _case_json(case: Case) -> dict[str, Any]:
    data: dict[str, Any] = case.model_dump(mode="json")
    return data


def generate_plan(
    db: Session,
    actor: Actor,
    kb: KnowledgeBase,
    visit: store.Visit,
    case: Case,
    assessment: store.AssessmentRecord,
) -> store.CarePlanRecord | None:
    """Generate and store a care plan with :func:`glutemed.pathway.plan` (None if unavailable)."""
    plan_fn = _feature("pathway")
    if plan_fn is None:
        return None
    plan = plan_fn(case, assessment=None, kb=kb)
    generated: dict[str, Any] = json.loads(json.dumps(plan.to_dict(), default=str))
    generated.setdefault("versions", kb.versions())
    return store.add_care_plan(
        db, actor, visit.id, generated=generated, assessment_id=assessment.id
    )


#: A visit may be dated at most this far after the server's today (time zones ahead of it).
_FUTURE_SLACK = dt.timedelta(days=1)


def check_visit_date(visit_date: dt.date, *, today: dt.date | None = None) -> None:
    """Refuse a visit date in the future (beyond one day for time zones ahead of the server).

    Raises
    ------
    InputValueError
        Naming ``visit_date``.
    """
    limit = (today or dt.date.today()) + _FUTURE_SLACK
    if visit_date > limit:
        raise InputValueError(
            "the visit date is in the future",
            [
                Problem(
                    "visit_date",
                    "the date the visit took place (today or earlier)",
                    visit_date.isoformat(),
                )
            ],
        )


def create_visit_with_assessment(
    db: Session,
    actor: Actor,
    kb: KnowledgeBase,
    patient_id: int,
    *,
    visit_date: dt.date,
    case: Mapping[str, Any],
    note: str = "",
    with_plan: bool = True,
) -> tuple[store.Visit, store.AssessmentRecord, store.CarePlanRecord | None]:
    """Create a visit, assess its case, and propose a care plan; one transaction.

    The case is validated before anything is stored, so an invalid case stores nothing.
    """
    actor.require_write()
    check_visit_date(visit_date)
    patient = store.get_patient(db, actor, patient_id)
    full = build_case(db, actor, patient, visit_date, case)
    parsed, result = assess_case(kb, full)
    case_json = _case_json(parsed)
    visit = store.create_visit(
        db, actor, patient.id, visit_date=visit_date, case=case_json, note=note
    )
    record = store.add_assessment(db, actor, visit.id, case=case_json, result=result)
    plan = generate_plan(db, actor, kb, visit, parsed, record) if with_plan else None
    return visit, record, plan


def update_visit_case(
    db: Session,
    actor: Actor,
    kb: KnowledgeBase,
    visit_id: int,
    *,
    expected_version: int | None,
    visit_date: dt.date | None = None,
    case: Mapping[str, Any] | None = None,
    note: str | None = None,
    reason: str = "",
) -> tuple[store.Visit, store.AssessmentRecord | None, store.CarePlanRecord | None]:
    """Edit a visit (optimistic locking); a changed case is re-assessed and a new plan proposed.

    ``reason`` (why the visit is corrected) is kept with the change in the visit's history.
    """
    if visit_date is not None:
        check_visit_date(visit_date)
    visit = store.get_visit(db, actor, visit_id)
    patient = store.get_patient(db, actor, visit.patient_id)
    changes: dict[str, Any] = {}
    when = visit_date or visit.visit_date
    parsed: Case | None = None
    result: dict[str, Any] | None = None
    if case is not None or visit_date is not None:
        base = case if case is not None else visit.case
        full = build_case(db, actor, patient, when, base)
        parsed, result = assess_case(kb, full)
        changes["case"] = _case_json(parsed)
    if visit_date is not None:
        changes["visit_date"] = visit_date
    if note is not None:
        changes["note"] = note
    before_case = visit.case
    visit = store.update_visit(db, actor, visit_id, changes, expected_version, reason=reason)
    record = plan = None
    if parsed is not None and result is not None and visit.case != before_case:
        record = store.add_assessment(db, actor, visit.id, case=visit.case, result=result)
        plan = generate_plan(db, actor, kb, visit, parsed, record)
    return visit, record, plan


def reassess_visit(
    db: Session, actor: Actor, kb: KnowledgeBase, visit_id: int
) -> tuple[store.AssessmentRecord, store.CarePlanRecord | None]:
    """Re-run the engine on a visit's stored case (e.g. after a knowledge-base update)."""
    visit = store.get_visit(db, actor, visit_id)
    parsed, result = assess_case(kb, visit.case)
    record = store.add_assessment(db, actor, visit.id, case=visit.case, result=result)
    plan = generate_plan(db, actor, kb, visit, parsed, record)
    return record, plan


# --------------------------------------------------------------------------- outcomes


def score_only(
    kb: KnowledgeBase,
    instrument: str,
    *,
    answers: Mapping[str, Any] | None = None,
    total: float | None = None,
) -> tuple[float | None, dict[str, Any]]:
    """Score item answers, or check a total; return ``(total, score dict)`` without storing.

    With ``answers`` the total comes from :func:`glutemed.questionnaires.score`; with only a
    ``total`` (e.g. a licensed instrument scored elsewhere) it is checked against the
    instrument's range from the knowledge base.
    """
    check_option("instrument", instrument, kb.instruments)
    inst = kb.instruments[instrument]
    if answers:
        score_fn = _require("questionnaires")
        result = score_fn(instrument, dict(answers), kb=kb)
        score: dict[str, Any] = json.loads(result.model_dump_json())
        return result.total, score
    if total is not None:
        lo, hi = inst.range
        if (
            isinstance(total, bool)
            or not isinstance(total, int | float)
            or not lo <= float(total) <= hi
        ):
            raise InputValueError(
                "invalid total",
                [
                    Problem(
                        "total", f"a number in [{lo:g}, {hi:g}] for {inst.name}", short_repr(total)
                    )
                ],
            )
        value = float(total)
        return value, {
            "instrument": instrument,
            "name": inst.name,
            "total": value,
            "range": [lo, hi],
            "higher_is_better": inst.higher_is_better,
            "method": "total entered by the clinician (not scored from items)",
            "versions": kb.versions(),
        }
    raise InputValueError(
        "nothing to record",
        [Problem("answers", "the item answers or a total", "neither")],
    )


def record_outcome(
    db: Session,
    actor: Actor,
    kb: KnowledgeBase,
    patient_id: int,
    *,
    instrument: str,
    measured_on: dt.date | str,
    answers: Mapping[str, Any] | None = None,
    total: float | None = None,
    visit_id: int | None = None,
    note: str = "",
) -> store.OutcomeEntry:
    """Score item answers (or check a total) and store the result; see :func:`score_only`.

    ``note`` is kept with the entry (e.g. the activities the patient named on the PSFS).
    """
    actor.require_write()
    store.get_patient(db, actor, patient_id)
    value, score = score_only(kb, instrument, answers=answers, total=total)
    return store.add_outcome(
        db,
        actor,
        patient_id,
        instrument=instrument,
        measured_on=measured_on,
        total=value,
        score=score,
        versions=score.get("versions") or kb.versions(),
        answers=None if not answers else dict(answers),
        visit_id=visit_id,
        note=note,
    )


def outcome_series(
    kb: KnowledgeBase, entries: Sequence[store.OutcomeEntry]
) -> dict[str, dict[str, Any]]:
    """Group outcomes by instrument with the change from baseline and the trajectory.

    Returns ``{instrument: {"name", "points": [(date, total)], "change", "trajectory",
    "thresholds"}}``; ``change`` and ``trajectory`` come from :mod:`glutemed.questionnaires`
    (None when it is unavailable or there are fewer than two points).
    """
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.total is None:
            continue
        inst = kb.instruments.get(e.instrument)
        item = out.setdefault(
            e.instrument,
            {
                "instrument": e.instrument,
                "name": inst.name if inst else e.instrument,
                "range": list(inst.range) if inst else None,
                "higher_is_better": inst.higher_is_better if inst else True,
                "points": [],
                "change": None,
                "trajectory": None,
            },
        )
        item["points"].append((e.measured_on.isoformat(), e.total))
    if not feature_available("questionnaires"):
        return out
    from glutemed.questionnaires import classify_trajectory, interpret_change

    for iid, item in out.items():
        pts = item["points"]
        if len(pts) >= 2:
            try:
                item["change"] = json.loads(
                    interpret_change(iid, pts[0][1], pts[-1][1], kb=kb).model_dump_json()
                )
            except GlutemedError as exc:
                item["change"] = {"explanation": exc.message}
        try:
            item["trajectory"] = json.loads(
                classify_trajectory(
                    iid, [(dt.date.fromisoformat(d), v) for d, v in pts], kb=kb
                ).model_dump_json()
            )
        except GlutemedError as exc:
            item["trajectory"] = {"status": "insufficient_data", "reason": exc.message}
    return out


# --------------------------------------------------------------------------- movement


async def read_upload(upload: Any, max_bytes: int) -> bytes:
    """Read an uploaded file, refusing it beyond ``max_bytes`` (HTTP 413 via InputValueError)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await upload.read(1024 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise UploadTooLargeError(
                "file too large",
                [Problem("file", f"at most {max_bytes // (1024 * 1024)} MB", "a larger file")],
            )
        chunks.append(chunk)
    if not size:
        raise InputValueError("empty file", [Problem("file", "a movement file", "an empty upload")])
    return b"".join(chunks)


def analyse_movement(
    kb: KnowledgeBase,
    data: bytes,
    file_name: str,
    *,
    task: str,
    sampling_rate_hz: float | None = None,
) -> tuple[dict[str, Any], bytes | None]:
    """Analyse an uploaded movement file with :func:`glutemed.motion.analyse_file`.

    Returns the result dictionary and the PNG plot (None if none was drawn).

    Raises
    ------
    InputValueError
        Unknown task or file type.
    MotionDataError
        From the motion layer (unreadable file, missing landmarks ...).
    """
    check_option("task", task, MOTION_TASKS)
    suffix = Path(file_name or "").suffix.lower()
    if suffix not in MOTION_SUFFIXES:
        raise InputValueError(
            "unsupported movement file",
            [
                Problem(
                    "file",
                    "a " + ", ".join(MOTION_SUFFIXES) + " file",
                    short_repr(suffix or "no extension"),
                )
            ],
        )
    analyse = _require("motion")
    with tempfile.TemporaryDirectory(prefix="glutemed-motion-") as tmp:
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(file_name).stem)[:60] or "upload"
        path = Path(tmp) / f"{stem}{suffix}"
        path.write_bytes(data)
        plot_path = Path(tmp) / "plot.png"
        kwargs: dict[str, Any] = {"task": task, "plot": plot_path, "kb": kb}
        if sampling_rate_hz:
            kwargs["sampling_rate_hz"] = sampling_rate_hz
        try:
            result = analyse(path, **kwargs)
        except RecursionError:  # a parser recursing into absurdly nested input (e.g. JSON)
            raise MotionDataError(
                "cannot read the movement file",
                [Problem("file", "a movement file of ordinary structure", "far deeper nesting")],
            ) from None
        out: dict[str, Any] = json.loads(json.dumps(result.to_dict(), default=str))
        if suffix == ".json":
            model = _pose_model(data)
            if model:
                out["pose_model"] = model
        if result.dimensions == 2:
            peak = _peak_frame(path, out)
            if peak is not None:
                out["peak_pelvic_drop"] = peak
        png = plot_path.read_bytes() if plot_path.exists() else None
        if png is None:
            pngs = sorted(Path(tmp).glob("*.png"))
            png = pngs[0].read_bytes() if pngs else None
    out["source"] = Path(file_name).name
    out["plots"] = ["plot.png"] if png else []
    out.setdefault("versions", kb.versions())
    return out, png


def _pose_model(data: bytes) -> dict[str, str] | None:
    """The pose model named in a MediaPipe JSON made by the movement page, or None."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    model = doc.get("pose_model") if isinstance(doc, dict) else None
    if not isinstance(model, dict):
        return None
    return {k: str(model[k])[:60] for k in ("package", "version", "model") if model.get(k)}


def _peak_frame(path: Path, result: Mapping[str, Any]) -> dict[str, Any] | None:
    """Frame and time of peak contralateral pelvic drop of a 2D keypoint file, or None."""
    from glutemed.motion import read_trial
    from glutemed.motion.video import peak_pelvic_drop

    peak = peak_pelvic_drop(read_trial(path), result)
    if peak is None:
        return None
    return {"frame": peak.frame, "time_s": round(peak.time_s, 4), "side": peak.side,
            "pelvic_drop_deg": round(peak.pelvic_drop_deg, 2)}


#: Largest still picture accepted from the browser.
MAX_STILL_BYTES = 5 * 1024 * 1024


def store_movement_still(
    db: Session, actor: Actor, movement_id: int, image: bytes
) -> store.MovementAnalysis:
    """Draw the pelvis and trunk lines on the still frame at peak pelvic drop and keep it.

    ``image`` is the video frame at ``result["peak_pelvic_drop"]["time_s"]``, taken in the
    clinician's browser (the video is never uploaded).

    Raises
    ------
    InputValueError
        Too large or empty image, or a movement analysis without a peak pelvic drop frame.
    """
    actor.require_write()
    if not image or len(image) > MAX_STILL_BYTES:
        raise InputValueError(
            "invalid still picture",
            [Problem("image", f"a JPEG or PNG of at most {MAX_STILL_BYTES // (1024 * 1024)} MB",
                     "an empty upload" if not image else "a larger file")],
        )
    record = store.get_movement(db, actor, movement_id)
    peak = record.result.get("peak_pelvic_drop")
    if not isinstance(peak, dict):
        raise InputValueError(
            "no still picture for this analysis",
            [Problem("image", "a movement analysis with stance phases (peak pelvic drop)",
                     "an analysis without one")],
        )
    from glutemed.motion import read_trial
    from glutemed.motion.video import PeakFrame, annotate_still

    with tempfile.TemporaryDirectory(prefix="glutemed-still-") as tmp:
        path = Path(tmp) / ("landmarks" + Path(record.file_name).suffix.lower())
        path.write_bytes(record.file_bytes)
        trial = read_trial(path)
    frame = PeakFrame(int(peak["frame"]), float(peak["time_s"]), str(peak["side"]),
                      float(peak["pelvic_drop_deg"]))
    return store.set_movement_still(db, actor, movement_id, annotate_still(image, trial, frame))


def store_movement(
    db: Session,
    actor: Actor,
    kb: KnowledgeBase,
    visit_id: int,
    *,
    data: bytes,
    file_name: str,
    task: str,
    sampling_rate_hz: float | None = None,
) -> store.MovementAnalysis:
    """Analyse an uploaded file and keep file, result and plot with the visit."""
    actor.require_write()
    store.get_visit(db, actor, visit_id)
    result, png = analyse_movement(
        kb, data, file_name, task=task, sampling_rate_hz=sampling_rate_hz
    )
    return store.add_movement(
        db,
        actor,
        visit_id,
        task=task,
        file_name=Path(file_name).name,
        file_bytes=data,
        file_sha256=hashlib.sha256(data).hexdigest(),
        result=result,
        plot_png=png,
    )
