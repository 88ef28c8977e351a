"""A pain site that a record leaves out while it names another is weak evidence of absence
(network.yaml ``unrecorded``); "not done" (not asked) is no evidence."""

from __future__ import annotations

import math

import numpy as np

from glutemed.knowledge import load_kb
from glutemed.reasoning import Case, assess, build_batch_model, network_for
from glutemed.reasoning._engine import observed_values
from glutemed.reasoning._network import infer, prepare
from glutemed.reasoning._next import variant_results

KB = load_kb()
NET = network_for(KB)
SITES = sorted(NET.unrecorded)
PATIENT = {"age_years": 47, "sex": "female"}


def _case(findings: dict[str, str]) -> Case:
    return Case(setting="primary_care", patient=PATIENT, findings=findings)


def _probs(findings: dict[str, str]) -> dict[str, float]:
    res = assess(_case(findings), KB, with_intervals=False)
    return {c.id: c.probability or 0.0 for c in res.conditions}


def _not_asked(but: str) -> dict[str, str]:
    return {s: "not_done" for s in SITES if s != but}


def test_sites_left_out_count_against_the_conditions_that_cause_them() -> None:
    blank = _probs({"buttock_pain": "positive"})
    asked_none = _probs({"buttock_pain": "positive", **_not_asked("buttock_pain")})
    absent = _probs(
        {"buttock_pain": "positive", **{s: "negative" for s in _not_asked("buttock_pain")}}
    )
    # back pain and groin pain left out: referred lumbar pain and FAI go down, but less than
    # when the sites are recorded absent
    for cid in ("referred_low_back_pain", "fai_labral_tear"):
        assert absent[cid] < blank[cid] < asked_none[cid], cid


def test_without_a_named_site_nothing_is_left_out() -> None:
    assert _probs({"sudden_onset": "positive"}) == _probs(
        {"sudden_onset": "positive", **dict.fromkeys(SITES, "not_done")}
    )
    # a site recorded absent names no site either
    assert _probs({"groin_pain": "negative"}) == _probs(
        {"groin_pain": "negative", **_not_asked("groin_pain")}
    )


def test_the_reason_names_the_sites_and_the_assumption() -> None:
    res = assess(_case({"lateral_hip_pain": "positive"}), KB, with_intervals=False)
    fai = next(c for c in res.conditions if c.id == "fai_labral_tear")
    (reason,) = [r for r in fai.contributions if r.value == "not_recorded"]
    assert set(reason.finding_ids) == set(SITES) - {"lateral_hip_pain"}
    assert reason.alone_from is not None and reason.alone_to is not None
    assert reason.alone_to < reason.alone_from
    assert "not among the recorded pain sites" in reason.sentence
    assert reason.sentence.endswith("(labelled assumption).")
    # the positive site's own reason compares it with not knowing it, the others still unrecorded
    lateral = next(r for r in fai.contributions if r.finding_ids == ("lateral_hip_pain",))
    assert lateral.alone_to == reason.alone_to


def test_asking_about_a_site_left_out_replaces_the_silence() -> None:
    """A next-test variant of a site left out is the record with the answer instead of the
    silence; its positive answer is weighted by the chance that a site the patient has was left
    out (1 - mention), which lowers P(+) below that of a site not asked."""
    case = _case({"lateral_hip_pain": "positive", "sudden_onset": "negative"})
    obs = observed_values(case, NET)
    main = prepare(NET, "primary_care", 47, "female", obs, {}, 0)
    assert "groin_pain" in main.unrecorded
    post_t, post_b, lp = variant_results(NET, case, obs, main, {}, ["groin_pain"])
    ref = variant_results(NET, case, obs, main, {}, ["groin_pain"], one_by_one=True)
    for got, want in zip((post_t, post_b, lp), ref, strict=True):
        assert np.allclose(got, want, atol=1e-9)
    m = float(NET.mention[0])
    for row, val, weight in ((0, "positive", 1 - m), (1, "negative", 1.0)):
        answered = prepare(NET, "primary_care", 47, "female", {**obs, "groin_pain": val}, {}, 0)
        res = infer(answered)
        assert np.allclose(post_b[row], res.post_b[0], atol=1e-9)
        assert math.isclose(lp[row], res.log_pe[0] + math.log(weight), abs_tol=1e-9)


def test_batch_agrees_with_the_single_case() -> None:
    rows = [
        {"buttock_pain": "positive"},
        {"buttock_pain": "positive", "groin_pain": "not_done", "back_pain": "negative"},
        {"groin_pain": "negative", "sudden_onset": "positive"},
        {
            "lateral_hip_pain": "positive",
            "buttock_pain": "not_done",
            "pain_map_complete": "positive",
        },
    ]
    model = build_batch_model(KB)
    values = model.encode(rows)
    columns = {f: [row.get(f, "") for row in rows] for f in {f for row in rows for f in row}}
    for got in (values, model.encode_columns(columns, len(rows))):
        batch = model.posteriors(got, "primary_care", [47.0] * len(rows), ["female"] * len(rows))
        for i, row in enumerate(rows):
            single = _probs(row)
            for k, cid in enumerate(model.conditions):
                assert math.isclose(batch[i, k], single[cid], abs_tol=1e-9), (i, cid)
