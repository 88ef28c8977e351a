"""Red flags, imaging advice and imaging severity.

Imaging rules (each returned with its reason and source)
--------------------------------------------------------
1. A red flag -> the red flag's own imaging advice, at its urgency (diagnosis.md §4a).
2. Abductor weakness with lateral hip pain under abduction load -> MRI (seed 004's rule; MRI
   ± ultrasound for suspected tears, Westacott 2011, diagnosis.md §4b). Ultrasound instead when
   MRI is unavailable or contraindicated (ultrasound sensitivity 0.79-1.00 for tears, same source).
   Weakness is read from ``abductor_weakness`` or an abductor-insufficiency sign
   (Trendelenburg sign or gait, hip lag sign); load pain from resisted abduction or a positive
   30-s single-leg stance.
3. No response to conservative care or to an injection -> MRI (± ultrasound) to look for a tear
   or another diagnosis (eTG via tx_r18; diagnosis.md §4b).
   For rules 2 and 3: when findings of that modality are already recorded, the advice is to use
   them (modality ``none``) rather than to order the scan again.
4. When the findings on balance point toward hip osteoarthritis (its post-test probability is
   above its pre-test probability), a radiograph: radiographs are the first imaging test for
   chronic hip pain (ACR 9/9) and the reference standard for hip OA.
5. Otherwise: a clear clinical picture of gluteal tendinopathy / GTPS needs no imaging to confirm
   it; MRI tendon changes are common without symptoms (88 % of asymptomatic women, Ganderton 2017;
   eTG).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from glutemed.knowledge import KnowledgeBase
from glutemed.reasoning._case import Case

__all__ = ["imaging_advice", "red_flags", "severity"]

_URGENCY_ORDER = {"emergency_same_day": 0, "urgent": 1, "soon": 2}


def _pos(case: Case, fid: str) -> bool:
    return case.observed().get(fid) == "positive"


def _src(kb: KnowledgeBase, sid: str, locator: str) -> dict[str, str]:
    from glutemed.reasoning._engine import short_citation

    return {"id": sid, "citation": short_citation(kb, sid), "locator": locator}


def red_flags(kb: KnowledgeBase, case: Case) -> list[dict[str, Any]]:
    """Return every red flag whose trigger is positive, most urgent first."""
    out: list[dict[str, Any]] = []
    for flag in kb.red_flags.values():
        fired = [t for t in flag.triggers if _pos(case, t)]
        if not fired:
            continue
        context = [c for c in flag.context_factors if _pos(case, c)]
        out.append(
            {
                "id": flag.id,
                "name": flag.name,
                "urgency": flag.urgency,
                "action": flag.action,
                "imaging": flag.imaging,
                "suspected": flag.suspected,
                "reason": "positive: "
                + ", ".join(kb.findings[t].name for t in fired)
                + ("; with " + ", ".join(kb.findings[c].name for c in context) if context else ""),
                "triggers": fired,
                "context_factors": context,
                "sources": [s.id for s in flag.sources],
            }
        )
    out.sort(key=lambda f: (_URGENCY_ORDER[f["urgency"]], f["id"]))
    return out


def imaging_advice(
    kb: KnowledgeBase,
    case: Case,
    flags: list[dict[str, Any]],
    posteriors: Sequence[tuple[str, float | None, float | None]] = (),
) -> dict[str, Any]:
    """Return ``{"recommendation", "modality", "urgency", "reasons"}`` (rules in the module doc).

    ``posteriors`` holds ``(condition id, prior, posterior)`` for the ranked conditions.
    """
    if flags:
        top = flags[0]
        return {
            "recommendation": "urgent imaging for a red flag",
            "modality": "per red flag",
            "urgency": top["urgency"],
            "reasons": [
                {"text": f"{f['name']}: {f['imaging'] or f['action']}", "sources": f["sources"]}
                for f in flags
            ],
        }
    weakness = any(
        _pos(case, f)
        for f in ("abductor_weakness", "trendelenburg_sign", "trendelenburg_gait", "hip_lag_sign")
    )
    load_pain = any(_pos(case, f) for f in ("resisted_hip_abduction_pain", "single_leg_stance_30s"))
    lateral = (
        _pos(case, "lateral_hip_pain")
        or _pos(case, "palpation_greater_trochanter_tenderness")
        or load_pain
    )
    failed = [
        t
        for t in case.treatments_tried
        if t.response in ("none", "worse") and t.id in kb.treatments
    ]
    mri_ok = case.mri_available and not case.mri_contraindicated
    modality = "mri" if mri_ok else "ultrasound"
    alt = (
        ""
        if mri_ok
        else (
            " (ultrasound because MRI is unavailable or contraindicated; ultrasound "
            "sensitivity for tears 0.79-1.00)"
        )
    )
    reasons: list[dict[str, Any]] = []
    if weakness and load_pain and lateral:
        reasons.append(
            {
                "text": "Abductor weakness with lateral hip pain under abduction load suggests a "
                "gluteus medius/minimus tear: image the tendons" + alt + ".",
                "sources": [
                    _src(kb, "seed_004", "diagnose"),
                    _src(kb, "dx_r14", "diagnosis.md §4b"),
                ],
            }
        )
    if failed:
        names = ", ".join(kb.treatments[t.id].name for t in failed)
        reasons.append(
            {
                "text": f"No response to {names}: look for a tear or another diagnosis" + alt + ".",
                "sources": [
                    _src(kb, "tx_r18", "treatment.md §2a practice guidance"),
                    _src(kb, "dx_r14", "diagnosis.md §4b"),
                ],
            }
        )
    if reasons:
        done = [
            f
            for f, v in case.imaging.items()
            if v != "not_done" and f in kb.findings and kb.findings[f].modality == modality
        ]
        if done:
            name = "MRI" if modality == "mri" else "ultrasound"
            reasons.append(
                {
                    "text": f"{name} findings are already recorded ("
                    + ", ".join(kb.findings[f].name for f in sorted(done))
                    + "): use them (see the imaging severity); repeat the scan only if the "
                    "clinical picture has changed or the surgeon needs a newer one.",
                    "sources": [],
                }
            )
            return {
                "recommendation": f"{name} already done: use the recorded findings",
                "modality": "none",
                "urgency": "none",
                "reasons": reasons,
            }
        return {
            "recommendation": ("MRI" if modality == "mri" else "ultrasound")
            + " of the gluteal tendons",
            "modality": modality,
            "urgency": "routine",
            "reasons": reasons,
        }
    oa = [(pr, po) for cid, pr, po in posteriors if cid == "hip_osteoarthritis"]
    oa_up = bool(oa) and oa[0][0] is not None and oa[0][1] is not None and oa[0][1] > oa[0][0]
    oa_signs = [
        f
        for f, v in case.observed().items()
        if oa_up
        and v == "positive"
        and f in kb.findings
        and any(
            r.use_in_model
            and r.target == "hip_osteoarthritis"
            and r.lr_positive is not None
            and r.lr_positive.value > 1
            for r in kb.findings[f].accuracy
        )
    ]
    if oa_signs:
        return {
            "recommendation": (
                "plain radiograph (AP pelvis and hip) if the result would change management"
            ),
            "modality": "xray",
            "urgency": "routine",
            "reasons": [
                {
                    "text": "The findings on balance point toward hip osteoarthritis ("
                    + ", ".join(kb.findings[f].name for f in oa_signs)
                    + f"; probability {oa[0][0]:.0%} -> {oa[0][1]:.0%}): radiographs are "
                    "the first imaging test for chronic hip pain and the "
                    "reference standard for hip OA.",
                    "sources": [
                        _src(kb, "dx_r55", "diagnosis.md §4b"),
                        _src(kb, "dx_r41", "diagnosis.md §1c"),
                    ],
                }
            ],
        }
    return {
        "recommendation": (
            "no imaging needed to confirm a clinical diagnosis of gluteal tendinopathy / GTPS"
        ),
        "modality": "none",
        "urgency": "none",
        "reasons": [
            {
                "text": "GTPS is a clinical diagnosis; image only when the diagnosis is unclear or "
                "care fails. MRI tendon changes are common without symptoms (88 % of "
                "asymptomatic women), so an MRI 'just to confirm' can mislead.",
                "sources": [
                    _src(kb, "dx_r66", "diagnosis.md §4b"),
                    _src(kb, "dx_r8", "diagnosis.md §2c"),
                ],
            }
        ],
    }


def severity(kb: KnowledgeBase, case: Case) -> dict[str, Any]:
    """Grade tendon pathology from the imaging findings entered.

    Grades: ``not_imaged``, ``no_tendon_pathology_reported``, ``tendinopathy``, ``partial_tear``,
    ``full_thickness_tear``; flags for retraction, bald facet and Goutallier-Fuchs grade 3-4 (both
    patients with grade 3-4 failed repair and needed transfer in Bogunovic's series, tx_r70).
    """
    img = case.imaging
    if not any(v != "not_done" for v in img.values()):
        return {"grade": "not_imaged", "flags": [], "sources": []}
    thickness = img.get("mri_tear_thickness")
    grade = "no_tendon_pathology_reported"
    if _pos(case, "mri_tendon_abnormality") or _pos(case, "us_tendon_abnormality"):
        grade = "tendinopathy"
    if thickness == "partial" or _pos(case, "us_tear"):
        grade = "partial_tear" if thickness != "full" else "full_thickness_tear"
    if thickness == "full" or _pos(case, "mri_tendon_retraction") or _pos(case, "mri_bald_facet"):
        grade = "full_thickness_tear"
    flags: list[str] = []
    sources: list[str] = []
    if _pos(case, "mri_tendon_retraction"):
        flags.append("tendon retraction")
    if _pos(case, "mri_bald_facet"):
        flags.append("bald (bare) facet")
    gf = img.get("mri_goutallier_fuchs_grade")
    if gf in ("grade_3", "grade_4"):
        flags.append(
            f"Goutallier-Fuchs {gf.replace('_', ' ')} fatty infiltration: high risk that repair "
            "fails; augmentation or muscle transfer to be considered"
        )
        sources.append("tx_r70")
    elif gf in ("grade_0", "grade_1", "grade_2"):
        flags.append(f"Goutallier-Fuchs {gf.replace('_', ' ')}")
    return {"grade": grade, "goutallier_fuchs": gf, "flags": flags, "sources": sources}
