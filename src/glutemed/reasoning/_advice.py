"""Imaging and referral advice from the posteriors, and the imaging severity grade.

Imaging rules (each returned with its reason and source), checked in this order
--------------------------------------------------------------------------------
1. A must-not-miss condition above its test threshold -> its rule-out test and action, at its
   urgency (network.yaml must_not_miss; diagnosis.md §4a-b).
2. Recorded findings of the tendon-imaging modality that would be advised (MRI, or ultrasound
   when MRI is unavailable) -> use them (no repeat scan); a full-thickness tear shown on imaging
   leads to a surgical opinion (see the referral advice).
3. A tear is likely (P(any tear) >= :data:`TEAR_IMAGING_THRESHOLD`), a full-thickness tear is
   plausible (P >= :data:`FULL_TEAR_IMAGING_THRESHOLD`) or an abductor insufficiency sign is
   present (weakness, Trendelenburg sign or gait, hip lag sign) -> MRI of the gluteal tendons
   (ultrasound when MRI is unavailable; MRI +- ultrasound for suspected tears, Westacott 2011;
   seed 004's rule). Partial tears alone are common (42 % of clinically diagnosed GT in LEAP,
   mostly partial) and MRI severity was not associated with outcome there, so the base rate of
   partial tears in GTPS does not by itself call for imaging.
4. No response to conservative care or to an injection -> MRI (+- ultrasound) to look for a tear
   or another diagnosis (eTG via tx_r18; diagnosis.md §4b).
5. Hip osteoarthritis is the leading intra-articular explanation (P >= 0.3 and above its prior)
   -> a radiograph (ACR: radiographs first for chronic hip pain; reference standard for OA).
   FAI / labral tear likely (P >= 0.5) -> radiographs, then MRI or MR arthrography (ACR 8).
6. "No imaging needed to confirm GTPS" only when GTPS leads clearly (P >= 0.8, no other
   condition >= :data:`COMPETING_PROBABILITY`), a tear is unlikely, no abductor insufficiency
   sign, no must-not-miss
   condition above threshold and no imaging recorded: GTPS is a clinical diagnosis (eTG) and MRI
   tendon changes are common without symptoms (Ganderton 2017).
7. Otherwise the diagnosis is not settled: the advice points to the most useful next tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from glutemed.knowledge import KnowledgeBase, lower_first, short_citation
from glutemed.reasoning._case import HISTORY_ONLY_TREATMENTS, Case
from glutemed.reasoning._percent import percent

__all__ = [
    "COMPETING_PROBABILITY",
    "FULL_TEAR_IMAGING_THRESHOLD",
    "TEAR_IMAGING_THRESHOLD",
    "imaging_advice",
    "referral_advice",
    "severity",
]


def _pos(case: Case, fid: str) -> bool:
    return case.observed().get(fid) == "positive"


def _treatment_name(kb: KnowledgeBase, tid: str) -> str:
    entry = kb.treatments.get(tid)
    return entry.name if entry is not None else HISTORY_ONLY_TREATMENTS[tid]


def _src(kb: KnowledgeBase, sid: str, locator: str) -> dict[str, str]:
    return {"id": sid, "citation": short_citation(kb, sid), "locator": locator}


#: P(any gluteal tendon tear) at which tendon imaging is advised (labelled design choice: above
#: the LEAP base rate of 42 % tears among clinically diagnosed GT, dx_r21).
TEAR_IMAGING_THRESHOLD = 0.5
#: P(full-thickness tear) at which tendon imaging is advised (labelled design choice: a
#: full-thickness tear changes management - surgical opinion - and only MRI/US show it).
FULL_TEAR_IMAGING_THRESHOLD = 0.15
#: A condition this likely competes with GTPS, so "no imaging needed" is not said (design
#: choice; coexisting hip OA near its prior is common and has its own radiograph rule).
COMPETING_PROBABILITY = 0.4

_INSUFFICIENCY = ("abductor_weakness", "trendelenburg_sign", "trendelenburg_gait", "hip_lag_sign")


def imaging_advice(
    kb: KnowledgeBase,
    case: Case,
    flags: list[dict[str, Any]],
    by_id: Mapping[str, Any],
    sev: Mapping[str, Any],
    differential: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Return ``{"recommendation", "modality", "urgency", "reasons"}`` (rules in the module doc)."""
    if flags:
        return {
            "recommendation": "investigate the must-not-miss condition"
            + ("s" if len(flags) > 1 else "")
            + " first: "
            + "; ".join(f["name"] for f in flags),
            "modality": "per must-not-miss condition",
            "urgency": _most_urgent(flags)["urgency"],
            "reasons": [
                {
                    "text": f"{f['name']} ({f['reason']}): {f['action']}",
                    "sources": [_src(kb, s, "") for s in f["sources"]],
                }
                for f in flags
            ],
        }
    p_tear = float(by_id["gluteal_tendon_tear"].probability or 0.0)
    p_full = float(by_id["gluteal_tendon_full_thickness_tear"].probability or 0.0)
    p_gtps = float(by_id["gtps"].probability or 0.0)
    insufficiency = [f for f in _INSUFFICIENCY if _pos(case, f)]
    mri_ok = case.mri_available and not case.mri_contraindicated
    modality = "mri" if mri_ok else "ultrasound"
    name = "MRI" if mri_ok else "ultrasound"
    alt = (
        ""
        if mri_ok
        else " (ultrasound because MRI is unavailable or contraindicated; ultrasound sensitivity "
        "for tears 0.79-1.00)"
    )
    tendon_imaging = [
        f
        for f, v in case.imaging.items()
        if v != "not_done" and f in kb.findings and kb.findings[f].modality == modality
    ]
    if tendon_imaging:
        grade = str(sev.get("grade", ""))
        text = (
            f"{name} findings are already recorded ("
            + ", ".join(kb.findings[f].name for f in sorted(tendon_imaging))
            + "): use them; repeat the scan only if the clinical picture has changed or the "
            "surgeon needs a newer one."
        )
        if grade == "full_thickness_tear":
            text += " The imaging shows a full-thickness tear: see the referral advice."
        return {
            "recommendation": f"{name} already done: use the recorded findings",
            "modality": "none",
            "urgency": "none",
            "reasons": [{"text": text, "sources": []}],
        }
    reasons: list[dict[str, Any]] = []
    if p_tear >= TEAR_IMAGING_THRESHOLD or p_full >= FULL_TEAR_IMAGING_THRESHOLD or insufficiency:
        why = []
        if p_tear >= TEAR_IMAGING_THRESHOLD:
            why.append(f"a gluteal tendon tear is likely ({percent(p_tear)})")
        elif p_full >= FULL_TEAR_IMAGING_THRESHOLD:
            why.append(f"a full-thickness tear is possible ({percent(p_full)})")
        if insufficiency:
            why.append(
                "abductor insufficiency ("
                + ", ".join(kb.findings[f].name for f in insufficiency)
                + ")"
            )
        reasons.append(
            {
                "text": " and ".join(why).capitalize()
                + ": image the gluteal tendons"
                + alt
                + "; a full-thickness tear changes management (surgical opinion).",
                "sources": [
                    _src(kb, "seed_004", "diagnose"),
                    _src(kb, "dx_r14", "diagnosis.md §4b"),
                ],
            }
        )
    failed = [
        t
        for t in case.treatments_tried
        if t.response in ("none", "worse")
        and (t.id in kb.treatments or t.id in HISTORY_ONLY_TREATMENTS)
    ]
    if failed:
        names = ", ".join(lower_first(_treatment_name(kb, t.id)) for t in failed)
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
        return {
            "recommendation": f"{name} of the gluteal tendons",
            "modality": modality,
            "urgency": "routine",
            "reasons": reasons,
        }
    oa = by_id["hip_osteoarthritis"]
    if (oa.probability or 0.0) >= 0.3 and (oa.probability or 0.0) > (oa.prior or 0.0):
        return {
            "recommendation": (
                "plain radiograph (AP pelvis and hip) if the result would change management"
            ),
            "modality": "xray",
            "urgency": "routine",
            "reasons": [
                {
                    "text": (
                        f"Hip osteoarthritis is likely ({percent(oa.probability)}, up from "
                        f"{percent(oa.prior)}): radiographs are the first imaging test for "
                        "chronic "
                        "hip pain and the reference standard for hip OA."
                    ),
                    "sources": [
                        _src(kb, "dx_r55", "diagnosis.md §4b"),
                        _src(kb, "dx_r41", "diagnosis.md §1c"),
                    ],
                }
            ],
        }
    fai = by_id["fai_labral_tear"]
    if (fai.probability or 0.0) >= 0.5:
        return {
            "recommendation": (
                "radiographs of the pelvis and hip, then MRI (or MR arthrography) "
                "of the hip if they do not settle it"
            ),
            "modality": "xray",
            "urgency": "routine",
            "reasons": [
                {
                    "text": (
                        "An intra-articular cause is likely (femoroacetabular impingement or "
                        f"labral tear {percent(fai.probability)}): radiographs first, MRI or MR "
                        "arthrography when radiographs are negative and impingement is "
                        "suspected (ACR ratings 8/9); the hip MRI also shows avascular "
                        "necrosis and stress fractures."
                    ),
                    "sources": [_src(kb, "dx_r55", "diagnosis.md §4b")],
                }
            ],
        }
    others = [
        e
        for e in differential
        if e["variable"] != "gluteal_tendon" and (e["probability"] or 0.0) >= COMPETING_PROBABILITY
    ]
    if p_gtps >= 0.8 and not others and not insufficiency:
        return {
            "recommendation": (
                "no imaging needed to confirm a clinical diagnosis of gluteal tendinopathy / GTPS"
            ),
            "modality": "none",
            "urgency": "none",
            "reasons": [
                {
                    "text": (
                        f"GTPS is likely ({percent(p_gtps)}), a tear is unlikely "
                        f"({percent(p_tear)}) "
                        "and no other condition competes: GTPS is a clinical diagnosis; image "
                        "only when the diagnosis is unclear or care fails. MRI tendon changes "
                        "are common without symptoms (88 % of asymptomatic women), so an MRI "
                        "'just to confirm' can mislead."
                    ),
                    "sources": [
                        _src(kb, "dx_r66", "diagnosis.md §4b"),
                        _src(kb, "dx_r8", "diagnosis.md §2c"),
                    ],
                }
            ],
        }
    lead = [e for e in differential[:3]]
    return {
        "recommendation": (
            "the diagnosis is not settled: do the most useful next tests before deciding on imaging"
        ),
        "modality": "none",
        "urgency": "routine",
        "reasons": [
            {
                "text": "Leading possibilities: "
                + ", ".join(f"{e['label']} {percent(e['probability'])}" for e in lead)
                + ". No single imaging test is indicated yet by the guideline rules; the next-test "
                "list ranks the examinations and investigations that would separate them.",
                "sources": [],
            }
        ],
    }


def referral_advice(
    kb: KnowledgeBase,
    case: Case,
    flags: list[dict[str, Any]],
    by_id: Mapping[str, Any],
    sev: Mapping[str, Any],
) -> dict[str, Any]:
    """Return ``{"refer", "to", "urgency", "reason"}``: must-not-miss, then surgical opinion."""
    if flags:
        top = _most_urgent(flags)
        return {
            "refer": True,
            "to": "emergency or specialist assessment for " + top["name"],
            "urgency": top["urgency"],
            "reason": top["action"],
        }
    grade = str(sev.get("grade", ""))
    p_full = float(by_id["gluteal_tendon_full_thickness_tear"].probability or 0.0)
    if grade == "full_thickness_tear" or p_full >= 0.5:
        return {
            "refer": True,
            "to": "orthopaedic hip surgeon (opinion on gluteal tendon repair)",
            "urgency": "soon",
            "reason": (
                "A full-thickness gluteal tendon tear "
                + (
                    "is shown on imaging"
                    if grade == "full_thickness_tear"
                    else f"is likely ({percent(p_full)})"
                )
                + ": retraction and fatty infiltration worsen the results of repair with time, "
                "so a "
                "surgical opinion is sought early; surgery is one option, not the default."
            ),
        }
    return {"refer": False, "to": "", "urgency": "none", "reason": ""}


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


#: must-not-miss urgencies, most urgent first
URGENCY_ORDER = ("emergency_same_day", "urgent", "soon")


def urgency_rank(urgency: str) -> int:
    """Position of an urgency in :data:`URGENCY_ORDER` (unknown ones last)."""
    return URGENCY_ORDER.index(urgency) if urgency in URGENCY_ORDER else len(URGENCY_ORDER)


def _most_urgent(flags: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The flag with the most urgent action (the first of equals: flags come by probability)."""
    return min(flags, key=lambda f: urgency_rank(str(f["urgency"])))
