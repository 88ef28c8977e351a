"""Export of a patient record as a FHIR R4 Bundle: structure, codes and validation."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from glutemed.errors import InputValueError
from glutemed.fhir import (
    CS,
    EXT,
    SID,
    PatientRecord,
    ScoreRecord,
    Visit,
    export_bundle,
    movements_from_motion,
)
from glutemed.knowledge import KnowledgeBase
from glutemed.reasoning import assess

from .conftest import GENERATED_AT, TENDINOPATHY, full_record, make_case


@pytest.fixture(scope="module")
def bundle(fixture_kb: KnowledgeBase) -> dict[str, Any]:
    return export_bundle(full_record(fixture_kb), kb=fixture_kb, generated_at=GENERATED_AT)


def resources(bundle: dict[str, Any], rtype: str | None = None) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle["entry"]
        if rtype is None or e["resource"]["resourceType"] == rtype
    ]


def codes(concept: dict[str, Any], system: str) -> list[str]:
    return [c["code"] for c in concept.get("coding", []) if c["system"] == system]


def by_code(bundle: dict[str, Any], system: str, code: str) -> dict[str, Any]:
    hits = [
        r
        for r in resources(bundle)
        if isinstance(r.get("code"), dict) and code in codes(r["code"], system)
    ]
    assert len(hits) >= 1, f"no resource with {system}|{code}"
    return hits[0]


def test_bundle_and_every_resource_validate(bundle: dict[str, Any]) -> None:
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    for entry in bundle["entry"]:
        res = entry["resource"]
        model = get_fhir_model_class(res["resourceType"]).model_validate(res)
        assert json.loads(model.model_dump_json()) == res
        assert entry["fullUrl"] == f"urn:uuid:{res['id']}"


def test_resource_types(bundle: dict[str, Any]) -> None:
    counts = Counter(r["resourceType"] for r in resources(bundle))
    for rtype in (
        "Patient",
        "Encounter",
        "Observation",
        "Questionnaire",
        "QuestionnaireResponse",
        "Condition",
        "RiskAssessment",
        "ServiceRequest",
        "CarePlan",
        "DiagnosticReport",
        "Provenance",
        "Device",
        "Procedure",
    ):
        assert counts[rtype] >= 1, rtype
    assert counts["Patient"] == 1
    assert counts["Encounter"] == 2


def test_every_resource_carries_versions(bundle: dict[str, Any], fixture_kb: KnowledgeBase) -> None:
    for res in resources(bundle):
        ext = [e for e in res.get("extension", []) if e["url"] == EXT.versions]
        assert len(ext) == 1, res["resourceType"]
        values = {e["url"]: e["valueString"] for e in ext[0]["extension"]}
        assert values["kb"] == fixture_kb.version
        assert set(values) == {"engine", "kb", "kbManifestSha256"}


def test_patient_is_pseudonymous(bundle: dict[str, Any]) -> None:
    (patient,) = resources(bundle, "Patient")
    assert patient["identifier"] == [{"system": SID.patient, "value": "pseudo-0001"}]
    assert patient["birthDate"] == "1972"
    assert patient["gender"] == "female"
    assert "name" not in patient and "address" not in patient and "telecom" not in patient


def test_findings_are_observations_with_categories(bundle: dict[str, Any]) -> None:
    exam = by_code(bundle, CS.finding, "single_leg_stance_30s")
    assert exam["category"][0]["coding"][0]["code"] == "exam"
    assert exam["valueBoolean"] is True
    assert exam["bodySite"]["coding"][0] == {
        "system": CS.laterality,
        "code": "left",
        "display": "left hip",
    }
    history = by_code(bundle, CS.finding, "pain_lying_on_affected_side")
    assert history["category"][0]["coding"][0]["system"] == CS.observation_category
    imaging = by_code(bundle, CS.finding, "mri_tear_thickness")
    assert imaging["category"][0]["coding"][0]["code"] == "imaging"
    assert codes(imaging["valueCodeableConcept"], CS.finding_level) == ["partial"]
    not_done = by_code(bundle, CS.finding, "hip_lag_sign")
    assert "valueBoolean" not in not_done
    assert not_done["dataAbsentReason"]["coding"][0]["code"] == "not-performed"


def test_nprs_uses_verified_loinc_and_survey_category(bundle: dict[str, Any]) -> None:
    nprs = by_code(bundle, "http://loinc.org", "72514-3")
    assert codes(nprs["code"], CS.instrument) == ["nprs"]
    assert nprs["category"][0]["coding"][0]["code"] == "survey"
    assert nprs["valueQuantity"]["value"] == 6
    assert nprs["derivedFrom"][0]["reference"].startswith("urn:uuid:")
    visa = by_code(bundle, CS.instrument, "visa_g")
    assert codes(visa["code"], "http://loinc.org") == []  # no verified LOINC code


def test_questionnaire_item_text_respects_licence(
    bundle: dict[str, Any], fixture_kb: KnowledgeBase
) -> None:
    questionnaires = {q["url"].rsplit("/", 1)[-1]: q for q in resources(bundle, "Questionnaire")}
    nprs = fixture_kb.instruments["nprs"]
    assert nprs.item_text_allowed
    assert questionnaires["nprs"]["item"][0]["text"] == nprs.items[0].text
    psfs = fixture_kb.instruments["psfs"]
    for item, kb_item in zip(questionnaires["psfs"]["item"], psfs.items, strict=True):
        expected = kb_item.text if psfs.item_text_allowed and kb_item.text else kb_item.label
        assert item["text"] == expected
    qr = [
        r
        for r in resources(bundle, "QuestionnaireResponse")
        if r["questionnaire"].startswith("https://glutemed.org/fhir/Questionnaire/psfs|")
    ]
    assert [i["linkId"] for i in qr[0]["item"]] == ["activity_1", "activity_2"]


def test_licensed_instrument_never_exports_item_text(fixture_kb: KnowledgeBase) -> None:
    from glutemed.fhir._export import questionnaire_resource

    visa = fixture_kb.instruments["visa_g"]
    assert not visa.item_text_allowed
    q = questionnaire_resource(visa, "v")
    assert [i["text"] for i in q["item"]] == [i.label for i in visa.items]


def test_movement_measure_in_ucum_with_components(bundle: dict[str, Any]) -> None:
    drop = by_code(bundle, CS.movement_measure, "contralateral_pelvic_drop_deg")
    assert drop["category"][0]["coding"][0]["code"] == "exam"
    assert drop["valueQuantity"] == {
        "value": 6.2,
        "unit": "deg",
        "system": "http://unitsofmeasure.org",
        "code": "deg",
    }
    comps = {c["code"]["coding"][0]["code"]: c for c in drop["component"]}
    assert comps["n_strides"]["valueInteger"] == 9
    assert comps["sd"]["valueQuantity"]["value"] == 1.4
    assert codes(comps["side"]["valueCodeableConcept"], CS.laterality) == ["left"]
    assert codes(drop["method"], CS.movement_task) == ["walk"]
    width = by_code(bundle, CS.movement_measure, "step_width_m")
    assert width["valueQuantity"]["code"] == "m"


def test_conditions_icd10_and_verification(
    bundle: dict[str, Any], fixture_kb: KnowledgeBase
) -> None:
    conds = resources(bundle, "Condition")
    visit1 = [c for c in conds if c["recordedDate"] == "2026-05-01"]
    statuses = [c["verificationStatus"]["coding"][0]["code"] for c in visit1]
    assert statuses[0] == "provisional"
    assert set(statuses[1:]) == {"differential"}
    for c in conds:
        assert c["clinicalStatus"]["coding"][0]["code"] == "active"
    # visit 1 (partial tear on MRI): the leading condition is the partial-tear state
    tear = next(
        c for c in conds if codes(c["code"], CS.condition) == ["gluteal_tendon_partial_tear"]
    )
    assert tear["verificationStatus"]["coding"][0]["code"] == "provisional"
    icd = codes(tear["code"], "http://hl7.org/fhir/sid/icd-10-cm")
    kb_codes = [c.code for c in fixture_kb.conditions["gluteal_tendon_partial_tear"].codes]
    assert all(
        code.rstrip("A").rstrip("-") in "".join(kb_codes) or code in kb_codes for code in icd
    )
    text = json.dumps(bundle)
    assert "M66.8-" not in text
    assert "http://snomed.info/sct" not in text


def test_icd_laterality_follows_side(fixture_kb: KnowledgeBase) -> None:
    from glutemed.fhir._export import icd_codings

    cond = fixture_kb.conditions["gluteal_tendinopathy"]
    assert [c["code"] for c in icd_codings(cond, "right")] == ["M76.01", "M76.0"]
    assert [c["code"] for c in icd_codings(cond, "left")] == ["M76.02", "M76.0"]
    assert [c["code"] for c in icd_codings(cond, "unknown")] == ["M76.00", "M76.0"]


def test_risk_assessment_has_probabilities_and_intervals(bundle: dict[str, Any]) -> None:
    risk = [
        r for r in resources(bundle, "RiskAssessment") if r["occurrenceDateTime"] == "2026-05-01"
    ]
    preds = risk[0]["prediction"]
    ranked = [p for p in preds if "probabilityDecimal" in p]
    assert ranked and all(0 <= p["probabilityDecimal"] <= 1 for p in ranked)
    for p in ranked:
        (ext,) = [e for e in p["extension"] if e["url"] == EXT.probability_interval]
        lo, hi = ext["valueRange"]["low"]["value"], ext["valueRange"]["high"]["value"]
        assert lo <= hi
    # the whole differential of the network, must-not-miss conditions included
    outcome_ids = {
        c["code"] for p in preds for c in p["outcome"]["coding"] if c["system"] == CS.condition
    }
    assert {"gtps", "hip_osteoarthritis", "bone_tumour", "cauda_equina_syndrome"} <= outcome_ids
    assert all(p["rationale"] for p in preds)


def test_service_request_for_mri_advice(fixture_kb: KnowledgeBase) -> None:
    case = make_case(findings={**TENDINOPATHY, "abductor_weakness": "positive"})
    assessment = assess(case, fixture_kb).to_dict()
    assert assessment["imaging"]["modality"] == "mri"
    record = PatientRecord(
        id="p", visits=[Visit(id="v", date=dt.date(2026, 1, 5), case=case, assessment=assessment)]
    )
    out = export_bundle(record, kb=fixture_kb, generated_at=GENERATED_AT)
    (sr,) = resources(out, "ServiceRequest")
    assert sr["intent"] == "proposal" and sr["status"] == "draft"
    assert codes(sr["code"], CS.imaging_procedure) == ["mri"]
    cond_ids = {f"urn:uuid:{c['id']}" for c in resources(out, "Condition")}
    assert sr["reasonReference"] and {r["reference"] for r in sr["reasonReference"]} <= cond_ids


def test_no_service_request_without_imaging_advice(bundle: dict[str, Any]) -> None:
    # visit 1 has a partial tear on MRI and failed injection -> MRI advice; visit 2 has none
    modalities = [
        codes(r["code"], CS.imaging_procedure)[0] for r in resources(bundle, "ServiceRequest")
    ]
    assert all(m in ("mri", "ultrasound", "xray") for m in modalities)


def test_red_flag_conditions_are_differential(fixture_kb: KnowledgeBase) -> None:
    case = make_case(findings={"lateral_hip_pain": "positive", "history_of_cancer": "positive"})
    assessment = assess(case, fixture_kb).to_dict()
    record = PatientRecord(
        id="p", visits=[Visit(id="v", date=dt.date(2026, 1, 5), case=case, assessment=assessment)]
    )
    out = export_bundle(record, kb=fixture_kb, generated_at=GENERATED_AT)
    conds = {codes(c["code"], CS.condition)[0]: c for c in resources(out, "Condition")}
    # the must-not-miss condition is exported as a differential diagnosis, beside the ranked ones
    assert conds["bone_tumour"]["verificationStatus"]["coding"][0]["code"] == "differential"
    assert "Must-not-miss" in conds["bone_tumour"]["note"][0]["text"]
    assert len(conds) > 1
    (risk,) = resources(out, "RiskAssessment")
    # the differential is never withheld: every prediction carries its probability
    assert all("probabilityDecimal" in p for p in risk["prediction"])
    assert any("Must-not-miss" in n["text"] for n in risk["note"])
    assert not resources(out, "ServiceRequest")  # must-not-miss imaging is free text, not an order


def test_care_plan_and_report(bundle: dict[str, Any]) -> None:
    (plan,) = resources(bundle, "CarePlan")
    assert plan["intent"] == "proposal"
    acts = [a["detail"] for a in plan["activity"]]
    assert codes(acts[0]["code"], CS.treatment) == ["education_load_management"]
    assert acts[0]["description"] == "First line (LEAP)."
    assert codes(acts[1]["code"], CS.care_action) == ["refer_physiotherapy"]
    assert acts[2]["code"] == {"text": "Something else"}
    assert plan["title"] == "glutemed care plan, stage 1: Conservative care"
    assert plan["note"][1]["text"] == "Escalate if: no improvement by 12 weeks"
    assert all(a["status"] == "not-started" for a in acts)
    reports = resources(bundle, "DiagnosticReport")
    first = next(r for r in reports if r["effectiveDateTime"] == "2026-05-01")
    assert first["conclusion"] == "Clinician report (synthetic)."
    titles = {f["title"]: f for f in first["presentedForm"]}
    assert set(titles) == {"report", "glutemed-assessment", "glutemed-plan"}
    assessment = json.loads(base64.b64decode(titles["glutemed-assessment"]["data"]))
    assert "conditions" in assessment
    second = next(r for r in reports if r["effectiveDateTime"] == "2026-06-12")
    # every setting has priors in the network, so visit 2 is ranked too
    assert second["conclusion"].startswith("Most likely:")


def test_provenance(bundle: dict[str, Any]) -> None:
    provs = resources(bundle, "Provenance")
    assert len(provs) == 2
    devices = {f"urn:uuid:{d['id']}": d for d in resources(bundle, "Device")}
    for prov in provs:
        assert prov["recorded"].startswith("2026-05-01T12:00:00")
        who = prov["agent"][0]["who"]["reference"]
        assert who in devices
        versions = [v["value"] for v in devices[who]["version"]]
        assert versions[1] == "test-fixture"
        assert prov["entity"][0]["what"]["identifier"]["system"] == SID.kb_manifest
        targets = {t["reference"] for t in prov["target"]}
        types = {e["resource"]["resourceType"] for e in bundle["entry"] if e["fullUrl"] in targets}
        assert {"RiskAssessment", "DiagnosticReport"} <= types
        assert "Condition" in types  # every visit has a ranked differential


def test_export_is_deterministic(fixture_kb: KnowledgeBase) -> None:
    record = full_record(fixture_kb)
    one = export_bundle(record, kb=fixture_kb, generated_at=GENERATED_AT)
    two = export_bundle(record, kb=fixture_kb, generated_at=GENERATED_AT)
    assert one == two


def test_invalid_record_lists_every_problem(fixture_kb: KnowledgeBase) -> None:
    case = make_case(findings={"no_such_finding": "positive"})
    record = PatientRecord(
        id="p",
        visits=[
            Visit(
                id="v",
                date=dt.date(2026, 1, 5),
                case=case,
                scores=[
                    ScoreRecord(instrument="nprs", date=dt.date(2026, 1, 5), total=11),
                    ScoreRecord(instrument="nope", date=dt.date(2026, 1, 5), total=1),
                ],
            )
        ],
    )
    with pytest.raises(InputValueError) as info:
        export_bundle(record, kb=fixture_kb)
    where = [p.location for p in info.value.problems]
    assert "visits[0].case findings.no_such_finding" in where
    assert "visits[0].scores[0].total" in where
    assert "visits[0].scores[1].instrument" in where


def test_movements_from_motion_result(fixture_kb: KnowledgeBase) -> None:
    result = {
        "task": "walk",
        "source": "/clinic/Jane Doe/walk.c3d",
        "measures": {
            "contralateral_pelvic_drop_deg": {
                "unit": "deg",
                "left": {"mean": 3.4, "sd": 0.5, "n": 8},
                "right": None,
            },
            "step_width_m": {
                "unit": "m",
                "left": {"mean": 0.18, "sd": None, "n": 1},
                "right": {"mean": None, "sd": None, "n": 0},
            },
        },
    }
    moves = movements_from_motion(result, method="2D video")
    assert [(m.measure, m.side, m.value, m.n_strides, m.sd) for m in moves] == [
        ("contralateral_pelvic_drop_deg", "left", 3.4, 8, 0.5),
        ("step_width_m", "left", 0.18, 1, None),
    ]
    record = PatientRecord(
        id="p", visits=[Visit(id="v", date=dt.date(2026, 1, 5), case=make_case(), movements=moves)]
    )
    out = export_bundle(record, kb=fixture_kb, generated_at=GENERATED_AT)
    assert "Jane" not in json.dumps(out)
    assert (
        len([r for r in resources(out, "Observation") if codes(r["code"], CS.movement_measure)])
        == 2
    )


@pytest.mark.reference_data
def test_movements_from_real_gait_file(shared_dir: Any, bundled_kb: KnowledgeBase) -> None:
    from glutemed.motion import analyse_file

    path = shared_dir / "data" / "c3d" / "gait-pig.c3d"
    moves = movements_from_motion(
        analyse_file(path, task="walk").to_dict(), method="marker-based motion capture"
    )
    assert moves
    record = PatientRecord(
        id="p", visits=[Visit(id="v", date=dt.date(2026, 1, 5), case=make_case(), movements=moves)]
    )
    out = export_bundle(record, kb=bundled_kb, generated_at=GENERATED_AT)
    obs = [r for r in resources(out, "Observation") if codes(r["code"], CS.movement_measure)]
    assert len(obs) == len(moves)
    for o in obs:
        get_fhir_model_class("Observation").model_validate(o)
        assert o["valueQuantity"]["system"] == "http://unitsofmeasure.org"
