"""Fixtures of the FHIR / CDS Hooks tests.

``fixture_kb`` is a small, self-contained knowledge base (``data/kb``, see ``data/README.md``):
its files are validated with the knowledge-base schema models one by one and assembled into a
:class:`~glutemed.knowledge.KnowledgeBase` without the loader's manifest and cross-file
machinery, so these tests do not depend on the bundled knowledge base (which others edit) and
their expected values stay fixed. Tests of the bundled example cases use ``bundled_kb``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from glutemed.errors import KnowledgeBaseError
from glutemed.fhir import MovementRecord, PatientRecord, ScoreRecord, Visit
from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.knowledge._loader import DATA_FILES
from glutemed.reasoning import Case, assess, case_from_dict

KB_DIR = Path(__file__).parent / "data" / "kb"
GENERATED_AT = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)

_ATTR = {
    ("sources.yaml", "sources"): "sources",
    ("conditions.yaml", "conditions"): "conditions",
    ("findings.yaml", "findings"): "findings",
    ("findings.yaml", "clusters"): "clusters",
    ("red_flags.yaml", "red_flags"): "red_flags",
    ("treatments.yaml", "treatments"): "treatments",
    ("instruments.yaml", "instruments"): "instruments",
    ("movement.yaml", "measures"): "movement_measures",
}


def build_fixture_kb() -> KnowledgeBase:
    """Return the fixture knowledge base (version ``test-fixture``)."""
    values: dict[str, Any] = {}
    for (file, key), attr in _ATTR.items():
        model = DATA_FILES[file][key]
        data = yaml.safe_load((KB_DIR / file).read_text("utf-8")) or {}
        values[attr] = {item["id"]: model.model_validate(item) for item in data.get(key, [])}
    prior_model = DATA_FILES["priors.yaml"]["settings"]
    priors_raw = yaml.safe_load((KB_DIR / "priors.yaml").read_text("utf-8"))
    values["priors"] = {}
    values["setting_descriptions"] = {}
    for block in priors_raw["settings"]:
        sp: Any = prior_model.model_validate(block)
        values["priors"][sp.setting] = {p.condition: p for p in sp.priors}
        values["setting_descriptions"][sp.setting] = sp.description
    # The diagnosis network and the conditions and findings it needs come from the bundled
    # knowledge base (the fixture's own entries win where both exist).
    bundled = load_kb(check_manifest=False)
    values["conditions"] = {**bundled.conditions, **values["conditions"]}
    values["findings"] = {**bundled.findings, **values["findings"]}
    values["sources"] = {**bundled.sources, **values["sources"]}
    values["network"] = bundled.network
    values["version"] = "test-fixture"
    values["manifest_sha256"] = "0" * 64
    values["file_hashes"] = {}
    for f in dataclasses.fields(KnowledgeBase):
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name not in values and no_default:
            values[f.name] = {}
    kb = KnowledgeBase(**values)
    for kind, entry in kb.iter_entries():
        kb._index[entry.id] = (kind, entry)  # type: ignore[attr-defined]
    return kb


@pytest.fixture(scope="session")
def fixture_kb() -> KnowledgeBase:
    return build_fixture_kb()


@pytest.fixture(scope="session")
def bundled_kb() -> KnowledgeBase:
    try:  # the manifest is checked by the knowledge-base tests; here only the content matters
        return load_kb(check_manifest=False)
    except KnowledgeBaseError as exc:  # the bundled data are being edited by others
        pytest.skip(f"bundled knowledge base does not load: {exc.message}")


def make_case(**data: Any) -> Case:
    base: dict[str, Any] = {"patient": {"age_years": 54, "sex": "female"}, "side": "left"}
    base.update(data)
    return case_from_dict(base)


TENDINOPATHY = {
    "lateral_hip_pain": "positive",
    "pain_lying_on_affected_side": "positive",
    "palpation_greater_trochanter_tenderness": "positive",
    "resisted_hip_abduction_pain": "positive",
    "single_leg_stance_30s": "positive",
    "hip_lag_sign": "not_done",
}


def full_record(kb: KnowledgeBase) -> PatientRecord:
    """A record that uses every part of the mapping (two visits)."""
    case1 = make_case(
        findings=TENDINOPATHY,
        imaging={"mri_tear_thickness": "partial", "mri_tendon_abnormality": "positive"},
        treatments_tried=[
            {
                "id": "corticosteroid_injection",
                "start_date": "2026-03-01",
                "weeks": 6,
                "dose": "40 mg triamcinolone",
                "response": "none",
            },
        ],
        factors={"diabetes": True, "prefers_no_surgery": True},
        mri_contraindicated=False,
        pretest={"lumbar_radiculopathy": 0.1},
        label="synthetic example",
        assessment_date="2026-05-01",
        outcomes=[{"instrument": "visa_g", "date": "2026-04-20", "total": 48}],
    )
    a1 = assess(case1, kb).to_dict()
    plan = {
        "stage": 1,
        "stage_name": "Conservative care",
        "recommendations": [  # the shape of glutemed.pathway's CarePlan.to_dict()
            {
                "id": "education_load_management",
                "kind": "treatment",
                "treatment": "Education and load management",
                "why": ["First line (LEAP)."],
            },
            {
                "id": "refer_physiotherapy",
                "kind": "action",
                "treatment": "Refer to physiotherapy",
                "why": ["An action of pathway.yaml."],
            },
            {
                "id": "not_a_kb_treatment",
                "kind": "treatment",
                "treatment": "Something else",
                "why": "Tolerated by the exporter.",
            },
        ],
        "review_after_weeks": 8,
        "escalate_if": [{"id": "e1", "text": "no improvement by 12 weeks"}],
        "versions": kb.versions(),
    }
    case2 = make_case(
        findings={"lateral_hip_pain": "positive", "hip_lag_sign": "positive"},
        setting="specialist",
        # no response to an injection and no imaging yet: an MRI is advised (ServiceRequest)
        treatments_tried=[{"id": "corticosteroid_injection", "response": "none"}],
    )
    return PatientRecord(
        id="pseudo-0001",
        birth_year=1972,
        sex="female",
        visits=[
            Visit(
                id="visit-1",
                date=dt.date(2026, 5, 1),
                case=case1,
                assessment=a1,
                plan=plan,
                scores=[
                    ScoreRecord(
                        instrument="nprs", date=dt.date(2026, 5, 1), total=6, answers={"score": 6}
                    ),
                    ScoreRecord(
                        instrument="psfs",
                        date=dt.date(2026, 5, 1),
                        total=4.5,
                        answers={"activity_1": 4, "activity_2": 5},
                        subscales={"walking": 4.0},
                    ),
                ],
                movements=[
                    MovementRecord(
                        measure="contralateral_pelvic_drop_deg",
                        value=6.2,
                        unit="deg",
                        task="walk",
                        side="left",
                        n_strides=9,
                        sd=1.4,
                        method="2D video, frontal view",
                    ),
                    MovementRecord(measure="step_width_m", value=0.11, unit="m", task="walk"),
                ],
                report_text="Clinician report (synthetic).",
            ),
            Visit(
                id="visit-2",
                date=dt.date(2026, 6, 12),
                case=case2,
                assessment=assess(case2, kb).to_dict(),
            ),
        ],
    )
