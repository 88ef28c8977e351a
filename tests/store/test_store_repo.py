"""Repositories on SQLite and PostgreSQL: scoping, roles, search, optimistic locking, audit."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import glutemed.store as store
from glutemed.errors import InputValueError, NotFoundError
from tests.store._helpers import make_actor

VERSIONS = {"engine": "0.1.0", "kb": "test", "kb_manifest_sha256": "0" * 64}


@pytest.fixture
def actors(db: Session) -> dict[str, store.Actor]:
    out = {
        "a": make_actor(db, "alice", "North clinic"),
        "b": make_actor(db, "bob", "South clinic"),
        "ro": make_actor(db, "rita", "North clinic", "read_only"),
        "admin": make_actor(db, "adam", "North clinic", "admin"),
    }
    db.commit()
    return out


def test_patient_crud_and_clinic_scoping(db: Session, actors: dict[str, store.Actor]) -> None:
    a, b = actors["a"], actors["b"]
    p = store.create_patient(
        db,
        a,
        {
            "family_name": "Müller",
            "given_name": "Anne-Marie",
            "birth_date": "1958-03-14",
            "sex": "female",
            "identifier": "MRN-0042",
        },
    )
    db.commit()
    assert p.version == 1 and p.clinic_id == a.clinic_id
    assert store.get_patient(db, a, p.id).family_name == "Müller"
    with pytest.raises(NotFoundError):
        store.get_patient(db, b, p.id)
    assert store.search_patients(db, b, "muller") == ([], False)
    with pytest.raises(NotFoundError):
        store.update_patient(db, b, p.id, {"notes": "x"}, 1)


def test_read_only_users_cannot_write(db: Session, actors: dict[str, store.Actor]) -> None:
    with pytest.raises(store.PermissionDeniedError):
        store.create_patient(db, actors["ro"], {"family_name": "X"})
    p = store.create_patient(db, actors["a"], {"family_name": "X"})
    assert store.get_patient(db, actors["ro"], p.id).id == p.id  # reading is fine


@pytest.mark.parametrize(
    ("query", "hit"),
    [
        ("muller", True),
        ("MÜLL", True),
        ("anne marie", True),
        ("marie mul", True),
        ("1958-03-14", True),
        ("14/03/1958", True),
        ("mrn0042", True),
        ("0042", True),
        ("mullex", False),
        ("anne smith", False),
    ],
)
def test_search(db: Session, actors: dict[str, store.Actor], query: str, hit: bool) -> None:
    a = actors["a"]
    p = store.create_patient(
        db,
        a,
        {
            "family_name": "Müller",
            "given_name": "Anne-Marie",
            "birth_date": "1958-03-14",
            "identifier": "MRN-0042",
        },
    )
    store.create_patient(db, a, {"family_name": "Smith", "given_name": "John"})
    rows, _ = store.search_patients(db, a, query)
    assert (p.id in [r.id for r in rows]) is hit


def test_search_order_limit_and_archived(db: Session, actors: dict[str, store.Actor]) -> None:
    a = actors["a"]
    for name in ("Brown", "Adams", "Clark"):
        store.create_patient(db, a, {"family_name": name})
    rows, more = store.search_patients(db, a, "", limit=2)
    assert [r.family_name for r in rows] == ["Adams", "Brown"] and more
    adams = rows[0]
    store.update_patient(db, a, adams.id, {"archived": True}, adams.version)
    assert [r.family_name for r in store.search_patients(db, a, "")[0]] == ["Brown", "Clark"]
    assert len(store.search_patients(db, a, "", include_archived=True)[0]) == 3


def test_search_terms_follow_edits(db: Session, actors: dict[str, store.Actor]) -> None:
    a = actors["a"]
    p = store.create_patient(db, a, {"family_name": "Jones"})
    store.update_patient(db, a, p.id, {"family_name": "Evans"}, 1)
    assert store.search_patients(db, a, "jones")[0] == []
    assert [r.id for r in store.search_patients(db, a, "evan")[0]] == [p.id]


def test_patient_validation_names_fields(db: Session, actors: dict[str, store.Actor]) -> None:
    with pytest.raises(InputValueError) as err:
        store.create_patient(db, actors["a"], {"family_name": "", "sex": "x"})
    assert err.value.problems[0].location == "family_name"
    with pytest.raises(InputValueError) as err:
        store.create_patient(db, actors["a"], {"family_name": "A", "birth_date": "2999-01-01"})
    assert err.value.problems[0].location == "birth_date"
    store.create_patient(db, actors["a"], {"family_name": "A", "identifier": "X1"})
    with pytest.raises(store.ConflictError):
        store.create_patient(db, actors["a"], {"family_name": "B", "identifier": "X1"})
    # the same record number in another clinic is fine
    store.create_patient(db, actors["b"], {"family_name": "B", "identifier": "X1"})


def test_stale_version_is_a_conflict_and_nothing_is_overwritten(
    db: Session, actors: dict[str, store.Actor]
) -> None:
    a = actors["a"]
    p = store.create_patient(db, a, {"family_name": "Stale", "notes": "first"})
    db.commit()
    store.update_patient(db, a, p.id, {"notes": "second"}, 1)
    db.commit()
    with pytest.raises(store.ConflictError) as err:
        store.update_patient(db, a, p.id, {"notes": "third"}, 1)
    assert err.value.current_version == 2
    db.rollback()
    assert store.get_patient(db, a, p.id).notes == "second"


def test_concurrent_update_between_read_and_write_is_caught(
    migrated_url: str, db: Session, actors: dict[str, store.Actor]
) -> None:
    """Two sessions read version 1; the second write fails at the database (version column)."""
    a = actors["a"]
    p = store.create_patient(db, a, {"family_name": "Race"})
    db.commit()
    engine = store.make_engine(migrated_url)
    other = store.make_sessionmaker(engine)()
    try:
        mine = store.get_patient(db, a, p.id)
        theirs = store.get_patient(other, a, p.id)
        assert mine.version == theirs.version == 1
        theirs.notes = "theirs"
        other.commit()
        mine.notes = "mine"
        with pytest.raises(store.ConflictError):
            store._repo._flush(db, "patient")
        db.rollback()
        assert store.get_patient(db, a, p.id).notes == "theirs"
    finally:
        other.close()
        engine.dispose()


def test_create_audit_snapshot_is_the_stored_row(
    db: Session, actors: dict[str, store.Actor], migrated_url: str
) -> None:
    """A new record's audit snapshot (taken without reading the row back) is the stored row,
    including the columns left out of the INSERT (stored as NULL)."""
    a = actors["a"]
    p = store.create_patient(db, a, {"family_name": "Snap"})  # no birth date, no record number
    v = store.create_visit(db, a, p.id, visit_date="2026-11-02", case={"findings": {}})
    db.commit()
    engine = store.make_engine(migrated_url)
    try:
        with store.make_sessionmaker(engine)() as fresh:
            for table, obj_id in (("patients", p.id), ("visits", v.id)):
                events = store.history(fresh, a, table, obj_id)
                (event,) = [e for e in events if e.action == "create"]
                model = store._models.Patient if table == "patients" else store._models.Visit
                stored = store._repo.snapshot(fresh.get(model, obj_id))
                for key in store._repo._IMMUTABLE_CONTENT.get(table, ()):
                    stored.pop(key, None)
                assert event.snapshot == stored
            assert event.snapshot is not None
    finally:
        engine.dispose()
    pat = store.history(db, a, "patients", p.id)[0].snapshot or {}
    assert pat["birth_date"] is None and pat["identifier"] is None


def test_audit_log_and_history(db: Session, actors: dict[str, store.Actor]) -> None:
    a = actors["a"]
    p = store.create_patient(db, a, {"family_name": "Audit", "given_name": "Ann"})
    store.update_patient(db, a, p.id, {"given_name": "Anna"}, 1)
    store.update_patient(db, a, p.id, {"given_name": "Anna"}, 2)  # no change, no event
    db.commit()
    events = store.history(db, a, "patients", p.id)
    assert [e.action for e in events] == ["create", "update"]
    assert events[1].changes == {"given_name": ["Ann", "Anna"]}
    assert events[1].user_id == a.user_id and events[1].entity_version == 2
    assert events[1].snapshot["given_name"] == "Anna"
    with pytest.raises(NotFoundError):
        store.history(db, actors["b"], "patients", p.id)
    log = store.audit_events(db, actors["admin"])
    assert {e.entity_type for e in log} >= {"patients"}
    with pytest.raises(store.PermissionDeniedError):
        store.audit_events(db, a)


def test_visit_assessment_plan_outcome_treatment(
    db: Session, actors: dict[str, store.Actor]
) -> None:
    a, b = actors["a"], actors["b"]
    p = store.create_patient(db, a, {"family_name": "Case"})
    v = store.create_visit(db, a, p.id, visit_date="2026-11-01", case={"setting": "primary_care"})
    rec = store.add_assessment(
        db, a, v.id, case=v.case, result={"conditions": [], "versions": VERSIONS}
    )
    assert (rec.engine_version, rec.kb_version, rec.kb_manifest_sha256) == (
        "0.1.0",
        "test",
        "0" * 64,
    )
    with pytest.raises(InputValueError):
        store.add_assessment(db, a, v.id, case=v.case, result={"conditions": []})
    plan = store.add_care_plan(
        db, a, v.id, generated={"recommendations": [], "versions": VERSIONS}, assessment_id=rec.id
    )
    assert plan.status == "proposed" and plan.kb_version == "test"
    plan = store.decide_care_plan(
        db, a, plan.id, status="accepted", decision={"note": "ok"}, expected_version=1
    )
    assert plan.status == "accepted" and plan.version == 2
    db.commit()
    with pytest.raises(store.ConflictError):
        store.decide_care_plan(db, a, plan.id, status="modified", decision={}, expected_version=1)
    db.rollback()
    t = store.add_treatment_given(
        db, a, p.id, {"treatment_id": "corticosteroid_injection", "given_on": "2026-10-01"}
    )
    t = store.update_treatment_given(db, a, t.id, {"response": "none"}, 1)
    assert t.response == "none"
    o = store.add_outcome(
        db,
        a,
        p.id,
        instrument="nprs",
        measured_on="2026-11-01",
        total=6.0,
        score={"total": 6.0},
        versions=VERSIONS,
    )
    assert o.kb_version == "test"
    o = store.update_outcome(
        db,
        a,
        o.id,
        measured_on="2026-11-02",
        total=5.0,
        score={"total": 5.0},
        versions=VERSIONS,
        answers=None,
        expected_version=1,
    )
    assert o.total == 5.0 and o.measured_on == dt.date(2026, 11, 2)
    db.commit()
    for getter, ident in (
        (store.get_visit, v.id),
        (store.get_assessment, rec.id),
        (store.get_care_plan, plan.id),
        (store.get_treatment_given, t.id),
        (store.get_outcome, o.id),
    ):
        with pytest.raises(NotFoundError):
            getter(db, b, ident)
    assert store.latest_assessment(db, a, v.id).id == rec.id  # type: ignore[union-attr]
    assert [x.id for x in store.list_outcomes(db, a, p.id, "nprs")] == [o.id]
    assert len(store.history(db, a, "care_plans", plan.id)) == 2


def test_movement_blob_is_not_in_the_audit(db: Session, actors: dict[str, store.Actor]) -> None:
    a = actors["a"]
    p = store.create_patient(db, a, {"family_name": "Move"})
    v = store.create_visit(db, a, p.id, visit_date="2026-11-01", case={})
    m = store.add_movement(
        db,
        a,
        v.id,
        task="walk",
        file_name="trial.c3d",
        file_bytes=b"\x00" * 100,
        file_sha256="f" * 64,
        result={"versions": VERSIONS},
        plot_png=b"png",
    )
    db.commit()
    event = store.history(db, a, "movement_analyses", m.id)[0]
    assert "file_bytes" not in (event.snapshot or {}) and "plot_png" not in (event.snapshot or {})
    assert (
        db.scalar(
            sa.select(store.MovementAnalysis.file_bytes).where(store.MovementAnalysis.id == m.id)
        )
        == b"\x00" * 100
    )


@pytest.mark.parametrize("dense_cap", [0, 1000])
def test_search_plans_agree(
    db: Session, actors: dict[str, store.Actor], monkeypatch: pytest.MonkeyPatch, dense_cap: int
) -> None:
    """The name-index walk (dense words) and the collect-and-sort plan give the same pages."""
    monkeypatch.setattr(store._repo, "_DENSE_MATCHES", dense_cap)
    a = actors["a"]
    names = [("Maple", "Ann"), ("Marsh", "Bo"), ("Mason", "Cy"), ("Moss", "Ann"), ("Nash", "Ma")]
    for family, given in names:
        store.create_patient(db, a, {"family_name": family, "given_name": given})
    rows, more = store.search_patients(db, a, "ma", limit=2)
    assert [r.family_name for r in rows] == ["Maple", "Marsh"] and more
    rows, more = store.search_patients(db, a, "ma", limit=2, offset=2)
    assert [r.family_name for r in rows] == ["Mason", "Nash"] and not more
    assert [r.family_name for r in store.search_patients(db, a, "ann m")[0]] == ["Maple", "Moss"]


def test_search_uses_the_term_index_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'plan.sqlite3'}"
    store.upgrade_to_head(url)
    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.execute(
                    sa.text(
                        "EXPLAIN QUERY PLAN SELECT patient_id FROM patient_terms "
                        "WHERE clinic_id = 1 AND term >= 'smi' AND term < 'smj'"
                    )
                )
            )
    finally:
        engine.dispose()
    assert (
        "COVERING INDEX ix_patient_terms_clinic_id_term_patient_id" in plan and "SCAN" not in plan
    )
