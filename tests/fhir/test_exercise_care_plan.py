"""An exercise prescription as a FHIR R4 CarePlan (validated with fhir.resources R4B)."""

from __future__ import annotations

import datetime as dt

from fhir.resources.R4B.careplan import CarePlan

from glutemed.fhir import exercise_care_plan
from glutemed.knowledge import KnowledgeBase
from glutemed.pathway import prescribe

START = dt.date(2026, 12, 1)
PATIENT = {"reference": "Patient/p1"}


def test_one_activity_per_exercise_with_timing_and_versions(kb: KnowledgeBase) -> None:
    rx = prescribe("prog_leap_edx", "leap_weeks_3_8", kb=kb, omit=["ex_sliding_platform"])
    res = exercise_care_plan(rx, patient=PATIENT, start=START)
    CarePlan.model_validate(res)
    assert len(res["activity"]) == len(rx.items)
    first = res["activity"][0]["detail"]
    assert first["code"]["coding"][0]["code"] == "ex_static_abduction_supine"
    repeat = first["scheduledTiming"]["repeat"]
    assert (repeat["frequency"], repeat["periodUnit"], repeat["boundsDuration"]["value"]) == (
        2,
        "d",
        6,
    )
    assert res["period"] == {"start": "2026-12-01", "end": "2027-01-11"}
    assert res["extension"][0]["url"].endswith("/versions")
    assert any(n["text"].startswith("Assumption") for n in res["note"])


def test_the_id_is_stable_and_a_blank_frequency_stays_blank(kb: KnowledgeBase) -> None:
    rx = prescribe("prog_leap_edx", kb=kb)
    a = exercise_care_plan(rx, patient=PATIENT, start=START)
    b = exercise_care_plan(rx, patient=PATIENT, start=START)
    assert a["id"] == b["id"]
    squat = next(
        act["detail"]
        for act in a["activity"]
        if act["detail"]["code"]["coding"][0]["code"] == "ex_double_leg_squat"
    )
    assert "frequency" not in squat["scheduledTiming"]["repeat"]


def test_postoperative_protocol_is_labelled(kb: KnowledgeBase) -> None:
    res = exercise_care_plan(prescribe("prog_postop_repair", kb=kb), patient=PATIENT, start=START)
    assert "activity" not in res
    assert any("not trial evidence" in n["text"] for n in res["note"])
