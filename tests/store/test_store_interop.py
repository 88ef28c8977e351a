"""Records <-> FHIR-layer patient records, on SQLite and PostgreSQL; the CLI helpers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

import glutemed.store as store
from glutemed.errors import CaseValidationError, InputValueError, NotFoundError
from glutemed.fhir import FhirInputError, PatientRecord, ScoreRecord, Visit, import_bundle
from glutemed.knowledge import KnowledgeBase
from glutemed.reasoning import assess, case_from_dict
from tests.store._helpers import make_actor

CASES = Path(__file__).resolve().parents[2] / "src" / "glutemed" / "examples" / "cases"


def _case(name: str = "tendinopathy") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CASES / f"{name}.yaml").read_text("utf-8"))
    data.pop("label", None)
    out: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return out


def _stored_patient(db: Session, actor: store.Actor, kb: KnowledgeBase) -> int:
    p = store.create_patient(
        db,
        actor,
        {"family_name": "Secret", "given_name": "Name", "birth_date": "1966-04-02", "sex": "male"},
    )
    case = case_from_dict(_case())
    case_json = case.model_dump(mode="json")
    v = store.create_visit(db, actor, p.id, visit_date="2026-10-01", case=case_json)
    store.add_assessment(db, actor, v.id, case=case_json, result=assess(case, kb).to_dict())
    store.add_outcome(
        db,
        actor,
        p.id,
        instrument="nprs",
        measured_on="2026-10-01",
        total=5,
        score={},
        versions=kb.versions(),
    )
    db.commit()
    return int(p.id)


def test_patient_record_is_pseudonymous_and_scoped(db: Session, kb: KnowledgeBase) -> None:
    a = make_actor(db, "alice", "North")
    b = make_actor(db, "bob", "South")
    pid = _stored_patient(db, a, kb)
    rec = store.patient_record(db, a, pid)
    assert rec.id == str(pid) and rec.birth_year == 1966 and rec.birth_date is None
    assert rec.sex == "male"
    assert "Secret" not in rec.model_dump_json()
    (visit,) = rec.visits
    assert (
        visit.date == dt.date(2026, 10, 1) and visit.assessment and visit.assessment["conditions"]
    )
    assert [(s.instrument, s.total) for s in visit.scores] == [("nprs", 5.0)]
    with pytest.raises(NotFoundError):
        store.patient_record(db, b, pid)


def test_save_imported_record_creates_everything_audited(db: Session, kb: KnowledgeBase) -> None:
    a = make_actor(db, "alice", "North")
    record = PatientRecord(
        id="remote-7",
        birth_year=1970,
        sex="female",
        visits=[
            Visit(
                id="v1",
                date=dt.date(2026, 9, 1),
                case=case_from_dict(_case()),
                scores=[ScoreRecord(instrument="nprs", date=dt.date(2026, 9, 1), total=7)],
            )
        ],
    )
    pid = store.save_imported_record(db, a, record, kb=kb)
    db.commit()
    patient = store.get_patient(db, a, pid)
    assert patient.clinic_id == a.clinic_id and patient.sex == "female"
    assert "1970" in patient.notes and "remote-7" in patient.given_name
    (visit,) = store.list_visits(db, a, pid)
    assert store.latest_assessment(db, a, visit.id) is not None
    assert [o.total for o in store.list_outcomes(db, a, pid)] == [7.0]
    actions = [e.action for e in store.history(db, a, "patients", pid)]
    assert actions == ["create", "import"]
    # and back: the stored record reads as the same case
    again = store.patient_record(db, a, pid)
    assert again.visits[0].case.findings == record.visits[0].case.findings


def test_failed_import_stores_nothing(db: Session, kb: KnowledgeBase) -> None:
    a = make_actor(db, "alice", "North")
    ro = make_actor(db, "rita", "North", "read_only")
    db.commit()
    bad = PatientRecord(
        id="x",
        visits=[
            Visit(
                id="v1",
                date=dt.date(2026, 9, 1),
                case=case_from_dict(_case()),
                scores=[ScoreRecord(instrument="nprs", date=dt.date(2026, 9, 1), total=70)],
            )
        ],
    )
    with pytest.raises(InputValueError):
        store.save_imported_record(db, a, bad, kb=kb)
    db.rollback()
    with pytest.raises(store.PermissionDeniedError):
        store.save_imported_record(db, ro, PatientRecord(id="y"), kb=kb)
    db.rollback()
    assert db.scalar(sa.select(sa.func.count()).select_from(store.Patient)) == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(store.Visit)) == 0


def test_cli_export_and_import(
    db: Session, migrated_url: str, kb: KnowledgeBase, tmp_path: Path
) -> None:
    admin = make_actor(db, "adam", "North", "admin")
    pid = _stored_patient(db, admin, kb)
    bundle = store.export_patient_bundle(pid, database_url=migrated_url)
    assert bundle["resourceType"] == "Bundle"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), "utf-8")
    new_id, warnings = store.import_bundle_file(path, database_url=migrated_url, username="adam")
    assert new_id != pid and isinstance(warnings, list)
    assert import_bundle(bundle, kb=kb).record.visits[0].case.findings == (
        store.patient_record(db, admin, new_id).visits[0].case.findings
    )
    # a second administrator: the user must be named
    make_actor(db, "ada", "South", "admin")
    db.commit()
    with pytest.raises(InputValueError, match="name a user"):
        store.export_patient_bundle(pid, database_url=migrated_url)
    with pytest.raises(NotFoundError):  # ada's clinic does not hold the patient
        store.export_patient_bundle(pid, database_url=migrated_url, username="ada")
    with pytest.raises(NotFoundError):
        store.export_patient_bundle(pid, database_url=migrated_url, username="nobody")
    bad = tmp_path / "bad.json"
    bad.write_text("{", "utf-8")
    with pytest.raises(FhirInputError):
        store.import_bundle_file(bad, database_url=migrated_url, username="adam")
    assert db.scalar(sa.select(sa.func.count()).select_from(store.Patient)) == 2


def test_feedback_kept_in_audit_log(db: Session) -> None:
    ids = store.record_cds_feedback(
        db,
        "glutemed-lateral-hip",
        [{"card": "c1", "outcome": "accepted", "outcomeTimestamp": "2026-11-02T10:00:00Z"}],
        client="https://ehr.example.org/",
    )
    db.commit()
    event = db.get(store.AuditEvent, ids[0])
    assert event is not None and event.action == "feedback"
    assert event.snapshot and event.snapshot["feedback"]["card"] == "c1"


def test_invalid_imported_case_is_refused(db: Session, kb: KnowledgeBase) -> None:
    a = make_actor(db, "alice", "North")
    case = case_from_dict({"side": "left", "findings": {"no_such_finding": True}})
    with pytest.raises(CaseValidationError):
        store.save_imported_record(
            db,
            a,
            PatientRecord(id="z", visits=[Visit(id="v", date=dt.date(2026, 1, 1), case=case)]),
            kb=kb,
        )
