"""Code systems, extension URLs and terminology used by the FHIR layer.

glutemed publishes its own (local) code systems under ``https://glutemed.org/fhir/CodeSystem/``
whose codes are knowledge-base ids (``finding``, ``condition``, ``instrument``, ...), and its own
extensions under ``https://glutemed.org/fhir/StructureDefinition/``. External codes appear only
where they are verified:

* ICD-10 / ICD-10-CM codes come from ``kb.conditions[...].codes`` and are emitted only when the
  knowledge base marks them ``verified``; a laterality-specific ICD-10-CM code is chosen from the
  case's side.
* LOINC 72514-3 "Pain severity - 0-10 verbal numeric rating [Score] - Reported" for the NPRS
  (software-landscape notes §2.2, verified in many FHIR profiles; source ``ls_terminology``). No
  other instrument has a verified LOINC code, so they use the glutemed ``instrument`` system.
* Exercise adherence has no verified LOINC or SNOMED CT code: it is an Observation (HL7
  category ``therapy``) coded in glutemed's own ``exercise-adherence`` system, the value in UCUM
  ``%``; the exercise pain (0-10) is a component in that system, not LOINC 72514-3, which is
  pain in general rather than pain with exercise.
* UCUM units for movement measures and scores; HL7 terminology (observation-category,
  condition-clinical, condition-ver-status, data-absent-reason, v3-ActCode) for structural codes.

No SNOMED CT code is emitted: the knowledge base lists none for findings, and guessed SCTIDs are
not allowed.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "BASE",
    "CS",
    "EXT",
    "ICD10",
    "ICD10CM",
    "LOINC",
    "LOINC_BY_INSTRUMENT",
    "NPRS_LOINC",
    "SID",
    "SNOMED",
    "TERMINOLOGY",
    "UCUM",
    "UCUM_BY_UNIT",
    "coding",
    "concept",
    "hl7",
]

#: Root of every glutemed FHIR URL.
BASE: Final = "https://glutemed.org/fhir"

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
SNOMED: Final = "http://snomed.info/sct"
ICD10: Final = "http://hl7.org/fhir/sid/icd-10"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"

#: KB TermCode.system -> FHIR system URI.
TERMINOLOGY: Final[dict[str, str]] = {
    "ICD-10": ICD10,
    "ICD-10-CM": ICD10CM,
    "SNOMED-CT": SNOMED,
    "LOINC": LOINC,
    "UCUM": UCUM,
}

NPRS_LOINC: Final = ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")

#: Instrument id -> verified LOINC (code, display). Only the NPRS has one (ls_terminology).
LOINC_BY_INSTRUMENT: Final[dict[str, tuple[str, str]]] = {"nprs": NPRS_LOINC}


class _Systems:
    """glutemed code-system URLs (local codes = knowledge-base ids)."""

    finding = f"{BASE}/CodeSystem/finding"
    finding_level = f"{BASE}/CodeSystem/finding-level"
    condition = f"{BASE}/CodeSystem/condition"
    instrument = f"{BASE}/CodeSystem/instrument"
    instrument_subscale = f"{BASE}/CodeSystem/instrument-subscale"
    movement_measure = f"{BASE}/CodeSystem/movement-measure"
    movement_component = f"{BASE}/CodeSystem/movement-component"
    movement_task = f"{BASE}/CodeSystem/movement-task"
    laterality = f"{BASE}/CodeSystem/laterality"
    case_factor = f"{BASE}/CodeSystem/case-factor"
    #: exercise adherence (one code, ``sessions-done-pct``) and its components
    exercise_adherence = f"{BASE}/CodeSystem/exercise-adherence"
    exercise_programme = f"{BASE}/CodeSystem/exercise-programme"
    programme_stage = f"{BASE}/CodeSystem/exercise-programme-stage"
    progression = f"{BASE}/CodeSystem/exercise-progression"
    treatment = f"{BASE}/CodeSystem/treatment"
    care_action = f"{BASE}/CodeSystem/care-action"
    exercise = f"{BASE}/CodeSystem/exercise"
    exercise_programme = f"{BASE}/CodeSystem/exercise-programme"
    treatment_response = f"{BASE}/CodeSystem/treatment-response"
    imaging_procedure = f"{BASE}/CodeSystem/imaging-procedure"
    observation_category = f"{BASE}/CodeSystem/observation-category"
    report = f"{BASE}/CodeSystem/report"
    risk_method = f"{BASE}/CodeSystem/risk-method"
    override_reason = f"{BASE}/CodeSystem/override-reason"
    card_topic = f"{BASE}/CodeSystem/card-topic"


class _Extensions:
    """glutemed extension (StructureDefinition) URLs."""

    versions = f"{BASE}/StructureDefinition/versions"
    probability_interval = f"{BASE}/StructureDefinition/probability-interval"
    combined_likelihood_ratio = f"{BASE}/StructureDefinition/combined-likelihood-ratio"
    case_context = f"{BASE}/StructureDefinition/case-context"
    treatment_weeks = f"{BASE}/StructureDefinition/treatment-duration-weeks"
    treatment_dose = f"{BASE}/StructureDefinition/treatment-dose"


class _Identifiers:
    """glutemed identifier systems."""

    patient = f"{BASE}/sid/patient"
    visit = f"{BASE}/sid/visit"
    kb_manifest = f"{BASE}/sid/kb-manifest-sha256"
    bundle = f"{BASE}/sid/bundle"


CS: Final = _Systems()
EXT: Final = _Extensions()
SID: Final = _Identifiers()

#: knowledge-base movement unit -> (UCUM code, human unit)
UCUM_BY_UNIT: Final[dict[str, tuple[str, str]]] = {
    "deg": ("deg", "deg"),
    "m": ("m", "m"),
    "s": ("s", "s"),
    "steps_per_min": ("/min", "steps/min"),
    "count": ("{count}", "count"),
    "hz": ("Hz", "Hz"),
}


def hl7(name: str) -> str:
    """Return the URL of an HL7 terminology code system, e.g. ``hl7("observation-category")``."""
    return f"http://terminology.hl7.org/CodeSystem/{name}"


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """Return a FHIR Coding as a dict (``display`` omitted when empty)."""
    out: dict[str, Any] = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(*codings: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    """Return a FHIR CodeableConcept as a dict."""
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = list(codings)
    if text:
        out["text"] = text
    return out
