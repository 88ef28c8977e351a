"""Adherence records on SQLite and PostgreSQL: stored, scoped, audited, decided, voided."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

import glutemed.store as store
from glutemed.errors import InputValueError, NotFoundError
from glutemed.pathway import read_adherence, suggest_progression
from tests.store._helpers import make_actor

VERSIONS = {"engine": "0.1.0", "kb": "test", "kb_manifest_sha256": "0" * 64}


def _report(done: int, pain_after: int) -> object:
    return read_adherence(
        {
            "programme": "prog_leap_edx",
            "stage": "leap_week_1",
            "programme_week": 2,
            "entries": [
                {
                    "exercise": "ex_double_leg_bridge",
                    "sessions_done": done,
                    "sessions_prescribed": 7,
                    "pain_during_nrs_0_10": 2,
                    "pain_after_nrs_0_10": pain_after,
                },
                {"exercise": "ex_side_stepping", "sessions_done": 7, "sessions_prescribed": 7},
            ],
        }
    )


def test_adherence_round_trip_scoping_audit_and_void(db: Session) -> None:
    a = make_actor(db, "alice", "North clinic")
    b = make_actor(db, "bob", "South clinic")
    p = store.create_patient(db, a, {"family_name": "Adams"})
    v1 = store.create_visit(db, a, p.id, visit_date="2026-11-02", case={})
    v2 = store.create_visit(db, a, p.id, visit_date="2026-11-16", case={})
    db.commit()
    first = _report(5, 2)
    rec1 = store.add_adherence(
        db, a, v2.id, first, suggestion=suggest_progression(first).to_dict(), versions=VERSIONS
    )
    second = _report(7, 1)
    rec0 = store.add_adherence(
        db, a, v1.id, second, suggestion=suggest_progression(second).to_dict(), versions=VERSIONS
    )
    db.commit()
    assert (rec1.sessions_done, rec1.sessions_prescribed) == (12, 14)
    assert rec1.entries[0]["exercise"] == "ex_double_leg_bridge"
    assert rec1.suggestion["action"] in ("progress", "stay", "regress")
    assert rec1.kb_version == "test"
    # oldest visit first, whatever the order of entry
    assert [r.id for r in store.list_adherence(db, a, p.id)] == [rec0.id, rec1.id]
    with pytest.raises(NotFoundError):
        store.get_adherence(db, b, rec1.id)
    with pytest.raises(NotFoundError):
        store.list_adherence(db, b, p.id)

    decided = store.decide_adherence(db, a, rec1.id, decision="stay", expected_version=rec1.version)
    db.commit()
    assert decided.decision == "stay" and decided.version == 2
    with pytest.raises(store.ConflictError):
        store.decide_adherence(db, a, rec1.id, decision="progress", expected_version=1)
    db.rollback()
    with pytest.raises(InputValueError):
        store.decide_adherence(db, a, rec1.id, decision="jump", expected_version=2)
    db.rollback()

    store.void_record(
        db, a, "adherence_records", rec0.id, reason="wrong patient", expected_version=1
    )
    db.commit()
    assert [r.id for r in store.list_adherence(db, a, p.id)] == [rec1.id]
    assert len(store.list_adherence(db, a, p.id, include_voided=True)) == 2
    actions = [e.action for e in store.history(db, a, "adherence_records", rec1.id)]
    assert actions == ["create", "update"]
    assert [e.action for e in store.history(db, a, "adherence_records", rec0.id)] == [
        "create",
        "void",
    ]


def test_adherence_needs_write_access_and_a_live_visit(db: Session) -> None:
    a = make_actor(db, "alice", "North clinic")
    ro = make_actor(db, "rita", "North clinic", "read_only")
    p = store.create_patient(db, a, {"family_name": "Adams"})
    v = store.create_visit(db, a, p.id, visit_date="2026-11-02", case={})
    db.commit()
    report = _report(5, 2)
    with pytest.raises(store.PermissionDeniedError):
        store.add_adherence(db, ro, v.id, report, suggestion={}, versions=VERSIONS)
    store.void_record(db, a, "visits", v.id, reason="duplicate", expected_version=v.version)
    db.commit()
    with pytest.raises(store.ConflictError):
        store.add_adherence(db, a, v.id, report, suggestion={}, versions=VERSIONS)


def test_adherence_travels_through_the_fhir_record(db: Session) -> None:
    import json

    import yaml

    from glutemed.fhir import export_bundle, import_bundle
    from glutemed.knowledge import load_kb
    from glutemed.reasoning import assess, case_from_dict

    kb = load_kb()
    a = make_actor(db, "alice", "North clinic")
    b = make_actor(db, "bob", "South clinic")
    p = store.create_patient(db, a, {"family_name": "Adams", "sex": "female"})
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "src/glutemed/examples/cases/tendinopathy.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data.pop("label", None)
    case = case_from_dict(json.loads(json.dumps(data, default=str)))
    case_json = case.model_dump(mode="json")
    v = store.create_visit(db, a, p.id, visit_date="2026-11-16", case=case_json)
    store.add_assessment(db, a, v.id, case=case_json, result=assess(case, kb).to_dict())
    report = _report(6, 2)
    rec = store.add_adherence(
        db, a, v.id, report, suggestion=suggest_progression(report).to_dict(), versions=VERSIONS
    )
    store.decide_adherence(db, a, rec.id, decision="progress", expected_version=1)
    db.commit()
    record = store.patient_record(db, a, p.id)
    (summary,) = record.visits[0].adherence
    assert (summary.sessions_done, summary.sessions_prescribed) == (13, 14)
    assert (summary.suggestion, summary.decision) == ("progress", "progress")
    back = import_bundle(json.dumps(export_bundle(record, kb=kb)), kb=kb).record
    pid = store.save_imported_record(db, b, back, kb=kb)
    db.commit()
    (imported,) = store.list_adherence(db, b, pid)
    assert (imported.sessions_done, imported.sessions_prescribed) == (13, 14)
    assert imported.entries[0]["exercise"] == "programme"
    assert imported.decision == "progress"
