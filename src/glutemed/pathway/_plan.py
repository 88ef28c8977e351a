"""The staged care plan for lateral hip pain.

:func:`plan` turns a case (its assessment, the treatments tried with their response, the outcome
scores over time and the patient factors) into a :class:`CarePlan`. All clinical content comes
from the knowledge base: the rules, stages, offers, exclusions, cautions, parameters and texts
from ``pathway.yaml``; treatment evidence, harms and regulatory status from ``treatments.yaml``;
MCIDs from ``instruments.yaml`` through :mod:`glutemed.questionnaires`.

Algorithm
---------
1. Assess the case (:func:`glutemed.reasoning.assess`) unless an assessment is given, and score
   its outcome records (:func:`~glutemed.questionnaires.interpret_change`,
   :func:`~glutemed.questionnaires.classify_trajectory`).
2. Compute every fact of ``pathway.yaml`` (:mod:`._facts`).
3. The first stage rule whose condition holds picks the stage (a red flag: no plan, urgent
   referral; a mimic ranked first without tendon pathology on imaging: re-check the diagnosis).
4. The stage's offers whose condition holds become recommendations; exclusions (preference,
   fitness, limits, earlier failure) move treatments to ``not_recommended`` with their reason.
   When every referral / first-line offer of a surgical stage is excluded, the stage's
   ``fallback_stage`` is delivered instead and the indicated stage is reported.
5. Cautions for patient factors are attached; treatments the clinician asks about are answered
   (on-request treatments such as prolozone, MMAT and BMAC appear only then, with their evidence
   and regulatory status).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from glutemed._checks import closest, short_repr
from glutemed.errors import InputValueError, KnowledgeBaseError, Problem
from glutemed.knowledge import (
    Action,
    Escalation,
    KnowledgeBase,
    Offer,
    SourceRef,
    Stage,
    StageRule,
    Treatment,
    When,
    load_kb,
    short_citation,
)
from glutemed.pathway._facts import Facts, compute_facts, fact_sentence, holds
from glutemed.pathway._outcomes import OutcomeSummary, summarise_outcomes
from glutemed.pathway._text import fill, fmt_number
from glutemed.reasoning import Assessment, Case, assess, validate_case

__all__ = ["CarePlan", "Recommendation", "plan"]

#: Roles whose exclusion, for every such offer of a surgical stage, triggers the fallback stage.
_KEY_ROLES = ("referral", "first_line")
#: Parameters shown with the exercise programme.
_EXERCISE_PARAMETERS = (
    "exercise_review_min_weeks",
    "exercise_review_max_weeks",
    "leap_supervised_sessions",
    "clifford_supervised_sessions",
)
_ROLE_ORDER = {
    "referral": 0,
    "first_line": 1,
    "continue": 2,
    "option": 3,
    "consider": 4,
    "if_needed": 5,
    "after_surgery": 6,
}
DISCLAIMER = (
    "Decision support for a clinician: every recommendation shows its evidence and sources; the "
    "plan does not replace clinical judgement or the patient's own choice."
)


def _source(kb: KnowledgeBase, ref: SourceRef) -> dict[str, str]:
    return {"id": ref.id, "citation": short_citation(kb, ref.id), "locator": ref.locator}


def _dedupe(sources: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, str]] = []
    for s in sources:
        key = (s["id"], s["locator"])
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


# --------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class Recommendation:
    """One recommended treatment or action, with why, evidence, harms and sources.

    Attributes
    ----------
    id
        Treatment id (``treatments.yaml``) or action id (``pathway.yaml``).
    kind
        ``treatment`` or ``action``.
    name
        Display name.
    role
        ``referral``, ``first_line``, ``continue``, ``option``, ``consider``, ``if_needed`` or
        ``after_surgery``.
    why
        Sentences: the offer's reason and the facts that triggered it.
    rules
        Rule ids that produced it (stage rule, offer, cautions).
    condition
        A condition the clinician judges (e.g. "for an acute flare only").
    effect
        Evidence rows from the knowledge base (effect size with time point, level, check and
        source); unverified rows are left out.
    """

    id: str
    kind: Literal["treatment", "action"]
    name: str
    role: str
    stage: int
    category: str
    why: list[str]
    rules: list[str]
    condition: str
    evidence_level: int | None
    evidence_status: str
    evidence_summary: str
    effect: list[dict[str, Any]]
    harms: list[str]
    dose: str
    cautions: list[dict[str, Any]]
    sources: list[dict[str, str]]
    regulatory_status: str | None
    comparison: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    asked_about: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {
            "id": self.id,
            "kind": self.kind,
            "treatment": self.name,
            "role": self.role,
            "stage": self.stage,
            "category": self.category,
            "why": list(self.why),
            "rules": list(self.rules),
            "condition": self.condition,
            "evidence_level": self.evidence_level,
            "evidence_status": self.evidence_status,
            "evidence_summary": self.evidence_summary,
            "effect": list(self.effect),
            "harms": list(self.harms),
            "dose": self.dose,
            "cautions": list(self.cautions),
            "sources": list(self.sources),
            "regulatory_status": self.regulatory_status,
            "comparison": self.comparison,
            "details": dict(self.details),
            "asked_about": self.asked_about,
        }


@dataclass(frozen=True)
class CarePlan:
    """The result of :func:`plan`; ``to_dict()`` gives the documented JSON.

    ``stage`` is the stage delivered (0 = no plan: urgent referral or re-check of the diagnosis;
    1-4 the care stages); ``indicated_stage`` differs from it when a surgical stage is indicated
    but the patient declines surgery or is not fit for it.
    """

    stage: int
    stage_name: str
    plain_stage_name: str
    status: str
    indicated_stage: int
    stage_rule: dict[str, Any]
    facts: list[dict[str, str]]
    recommendations: list[Recommendation]
    not_recommended: list[dict[str, Any]]
    cautions: list[dict[str, Any]]
    review_after_weeks: float | int | None
    review_window_weeks: list[float | int] | None
    review: str
    escalate_if: list[dict[str, Any]]
    education: dict[str, Any] | None
    exercise: dict[str, Any] | None
    rehabilitation: dict[str, Any] | None
    comparisons: list[dict[str, Any]]
    conventions: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    assessment: dict[str, Any]
    notes: list[str]
    plan_date: dt.date
    versions: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready plan."""
        return {
            "stage": self.stage,
            "stage_name": self.stage_name,
            "plain_stage_name": self.plain_stage_name,
            "status": self.status,
            "indicated_stage": self.indicated_stage,
            "stage_rule": self.stage_rule,
            "facts": self.facts,
            "recommendations": [r.to_dict() for r in self.recommendations],
            "not_recommended": self.not_recommended,
            "cautions": self.cautions,
            "review_after_weeks": self.review_after_weeks,
            "review_window_weeks": self.review_window_weeks,
            "review": self.review,
            "escalate_if": self.escalate_if,
            "education": self.education,
            "exercise": self.exercise,
            "rehabilitation": self.rehabilitation,
            "comparisons": self.comparisons,
            "conventions": self.conventions,
            "outcomes": self.outcomes,
            "assessment": self.assessment,
            "notes": self.notes,
            "plan_date": self.plan_date.isoformat(),
            "versions": self.versions,
            "disclaimer": DISCLAIMER,
        }

    def decision_summary(self) -> dict[str, Any]:
        """Return the decision content only (stage, rules, ids, reasons), for pinned tests.

        Evidence text, citations and versions are left out, so the summary changes only when a
        decision changes.
        """
        return {
            "stage": self.stage,
            "status": self.status,
            "indicated_stage": self.indicated_stage,
            "stage_rule": self.stage_rule["id"],
            "facts": sorted(f["id"] for f in self.facts),
            "recommendations": [
                {
                    "id": r.id,
                    "role": r.role,
                    "rules": r.rules,
                    "evidence_level": r.evidence_level,
                    "evidence_status": r.evidence_status,
                    "cautions": [c["id"] for c in r.cautions],
                    "asked_about": r.asked_about,
                }
                for r in self.recommendations
            ],
            "not_recommended": [
                {"id": n["id"], "status": n["status"], "rules": n["rules"]}
                for n in self.not_recommended
            ],
            "review_after_weeks": self.review_after_weeks,
            "review_window_weeks": self.review_window_weeks,
            "escalate_if": [e["text"] for e in self.escalate_if],
            "conventions": [c["id"] for c in self.conventions],
            "outcomes": [
                {"instrument": o["instrument"], "verdict": o["verdict"]} for o in self.outcomes
            ],
            "rehabilitation": self.rehabilitation is not None,
            "exercise": self.exercise is not None,
            "education": self.education is not None,
        }


# --------------------------------------------------------------------------- building blocks


def _treatment_evidence(
    kb: KnowledgeBase, t: Treatment
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    effect: list[dict[str, Any]] = []
    sources: list[dict[str, str]] = []
    for row in t.evidence:
        src = _source(kb, row.source)
        sources.append(src)
        if row.check == "unverified":  # shown with the sources, never as an effect
            continue
        effect.append(
            {
                "outcome": row.outcome,
                "time_point": row.time_point,
                "comparison": row.comparison,
                "population": row.population,
                "n": row.n,
                "level": row.level,
                "check": row.check,
                "source": src,
                "notes": row.notes,
            }
        )
    sources.extend(_source(kb, r) for r in t.regulatory_sources)
    return effect, sources


def _why_facts(kb: KnowledgeBase, when: When, facts: Facts) -> list[str]:
    out = []
    for fid in (*when.all_of, *when.any_of):
        fv = facts.get(fid)
        if fv is not None and fv.holds:
            out.append(fact_sentence(kb, fv))
    return out


def _unmet(kb: KnowledgeBase, when: When, facts: Facts) -> str:
    parts = [
        kb.pathway.facts[f].description.rstrip(".")
        for f in when.all_of
        if not facts.get(f) or not facts[f].holds
    ]
    if when.any_of and not any(facts.get(f) and facts[f].holds for f in when.any_of):
        parts.append(" or ".join(kb.pathway.facts[f].description.rstrip(".") for f in when.any_of))
    parts += [
        f"not: {kb.pathway.facts[f].description.rstrip('.')}"
        for f in when.none_of
        if facts.get(f) and facts[f].holds
    ]
    return "; ".join(parts)


@dataclass
class _Draft:
    """A recommendation being assembled from one or more offers."""

    offer: Offer
    why: list[str]
    rules: list[str]


def _matches(
    kb: KnowledgeBase,
    target_kind: str,
    target_id: str,
    treatments: Sequence[str],
    categories: Sequence[str],
    actions: Sequence[str],
) -> bool:
    if target_kind == "action":
        return target_id in actions
    t = kb.treatments.get(target_id)
    return target_id in treatments or (t is not None and t.category in categories)


class _Builder:
    """Assembles a plan for one case; one instance per call of :func:`plan`."""

    def __init__(
        self,
        kb: KnowledgeBase,
        case: Case,
        assessment: Assessment,
        facts: Facts,
        rule: StageRule,
        asked: list[str],
    ) -> None:
        self.kb = kb
        self.case = case
        self.assessment = assessment
        self.facts = facts
        self.rule = rule
        self.asked = asked
        self.p = kb.pathway

    # ---------------------------------------------------------------- offers and exclusions

    def drafts(self, stage: Stage) -> list[_Draft]:
        rule_facts = _why_facts(self.kb, self.rule.when, self.facts)
        out: dict[str, _Draft] = {}
        for offer in stage.offers:
            if not holds(offer.when, self.facts):
                continue
            target = offer.treatment or offer.action or ""
            why = [fill(self.kb, offer.why), *_why_facts(self.kb, offer.when, self.facts)]
            if target in out:
                out[target].why.extend(w for w in why if w not in out[target].why)
                out[target].rules.append(offer.id)
                continue
            out[target] = _Draft(
                offer, why + [w for w in rule_facts if w not in why], [self.rule.id, offer.id]
            )
        return list(out.values())

    def exclusions_for(self, offer: Offer) -> list[Any]:
        kind = "action" if offer.action else "treatment"
        target = offer.action or offer.treatment or ""
        return [
            ex
            for ex in self.p.exclusions
            if holds(ex.when, self.facts)
            and _matches(self.kb, kind, target, ex.treatments, ex.categories, ex.actions)
        ]

    def cautions_for(self, kind: str, target: str) -> list[dict[str, Any]]:
        out = []
        for ca in self.p.cautions:
            if holds(ca.when, self.facts) and _matches(
                self.kb, kind, target, ca.treatments, ca.categories, ()
            ):
                out.append(
                    {
                        "id": ca.id,
                        "text": fill(self.kb, ca.text),
                        "dossier_covers": ca.dossier_covers,
                        "sources": [_source(self.kb, s) for s in ca.sources],
                    }
                )
        return out

    # ---------------------------------------------------------------- recommendations

    def recommendation(self, draft: _Draft, stage: Stage) -> Recommendation:
        offer = draft.offer
        offer_sources = [_source(self.kb, s) for s in (*offer.sources, *self.rule.sources)]
        if offer.action is not None:
            return self._action(self.p.actions[offer.action], draft, stage, offer_sources)
        assert offer.treatment is not None
        t = self.kb.treatments[offer.treatment]
        effect, ev_sources = _treatment_evidence(self.kb, t)
        cautions = self.cautions_for("treatment", t.id)
        comparison = next((c.id for c in self.p.comparisons.values() if t.id in c.treatments), None)
        return Recommendation(
            id=t.id,
            kind="treatment",
            name=t.name,
            role=offer.role,
            stage=stage.number,
            category=t.category,
            why=draft.why,
            rules=[*draft.rules, *(c["id"] for c in cautions)],
            condition=fill(self.kb, offer.condition_text),
            evidence_level=t.evidence_level,
            evidence_status=t.evidence_status,
            evidence_summary=t.evidence_summary,
            effect=effect,
            harms=list(t.harms),
            dose=t.dose,
            cautions=cautions,
            sources=_dedupe([*offer_sources, *ev_sources]),
            regulatory_status=t.regulatory_status or None,
            comparison=comparison,
            asked_about=t.id in self.asked,
        )

    def _action(
        self, action: Action, draft: _Draft, stage: Stage, offer_sources: list[dict[str, str]]
    ) -> Recommendation:
        details: dict[str, Any] = {}
        if "red_flags" in action.uses_assessment:
            details["red_flags"] = [
                {k: f.get(k) for k in ("id", "name", "urgency", "action", "imaging", "reason")}
                for f in self.assessment.red_flags
            ]
        if "imaging" in action.uses_assessment:
            details["imaging"] = self.assessment.imaging
        if "differential" in action.uses_assessment:
            details["differential"] = [
                {"id": c.id, "name": c.name, "probability": c.probability}
                for c in self.assessment.conditions[:3]
            ]
        why = list(draft.why)
        if "red_flags" in action.uses_assessment:
            why += [f"{f['name']}: {f['action']}" for f in self.assessment.red_flags]
        return Recommendation(
            id=action.id,
            kind="action",
            name=action.name,
            role=draft.offer.role,
            stage=stage.number,
            category=action.kind,
            why=why,
            rules=list(draft.rules),
            condition=fill(self.kb, draft.offer.condition_text),
            evidence_level=action.evidence_level,
            evidence_status="guidance",
            evidence_summary=action.evidence_note,
            effect=[],
            harms=[],
            dose="",
            cautions=[],
            sources=_dedupe([*offer_sources, *(_source(self.kb, s) for s in action.sources)]),
            regulatory_status=None,
            details=details,
        )

    def excluded_entry(self, offer: Offer, exclusions: list[Any], stage: Stage) -> dict[str, Any]:
        reasons = [fill(self.kb, ex.reason) for ex in exclusions]
        alternatives = [fill(self.kb, ex.alternatives) for ex in exclusions]
        sources = [_source(self.kb, s) for ex in exclusions for s in ex.sources]
        entry = self._entry(offer.treatment or offer.action or "", "excluded", reasons, stage)
        entry["alternatives"] = alternatives
        entry["rules"] = [self.rule.id, offer.id, *(ex.id for ex in exclusions)]
        entry["why_excluded_facts"] = [
            s for ex in exclusions for s in _why_facts(self.kb, ex.when, self.facts)
        ]
        entry["sources"] = _dedupe([*sources, *entry["sources"]])
        return entry

    def _entry(self, target: str, status: str, reasons: list[str], stage: Stage) -> dict[str, Any]:
        if target in self.p.actions:
            action = self.p.actions[target]
            return {
                "id": target,
                "kind": "action",
                "treatment": action.name,
                "status": status,
                "reason": " ".join(reasons),
                "alternatives": [],
                "rules": [],
                "evidence_level": action.evidence_level,
                "evidence_status": "guidance",
                "evidence_summary": action.evidence_note,
                "effect": [],
                "harms": [],
                "sources": [_source(self.kb, s) for s in action.sources],
                "regulatory_status": None,
                "asked_about": target in self.asked,
            }
        t = self.kb.treatments[target]
        effect, sources = _treatment_evidence(self.kb, t)
        return {
            "id": t.id,
            "kind": "treatment",
            "treatment": t.name,
            "status": status,
            "reason": " ".join(reasons),
            "alternatives": [],
            "rules": [],
            "stage": t.stage,
            "category": t.category,
            "evidence_level": t.evidence_level,
            "evidence_status": t.evidence_status,
            "evidence_summary": t.evidence_summary,
            "effect": effect,
            "harms": list(t.harms),
            "sources": _dedupe(sources),
            "regulatory_status": t.regulatory_status or None,
            "asked_about": t.id in self.asked,
        }

    def asked_entry(self, tid: str, stage: Stage, status: str) -> dict[str, Any]:
        t = self.kb.treatments[tid]
        req = self.p.on_request.get(tid)
        rules: list[str] = []
        if req is not None:
            kind = "on_request_only"
            reasons = [req.statement, req.reason]
            rules = [req.id]
        elif status != "active":
            kind = "no_plan"
            reasons = [
                "No treatment is planned until the red flag has been dealt with."
                if status == "urgent_referral"
                else "No treatment is planned until the diagnosis has been re-checked."
            ]
        else:
            offers = [o for o in stage.offers if o.treatment == tid]
            if offers:
                kind = "not_indicated_now"
                reasons = [
                    "Offered at this stage only when: "
                    + " | ".join(_unmet(self.kb, o.when, self.facts) for o in offers)
                    + "."
                ]
                rules = [o.id for o in offers]
            elif (
                t.stage != stage.number
                and t.stage in self.p.stages
                and any(o.treatment == tid for o in self.p.stages[t.stage].offers)
            ):
                kind = "not_indicated_now"
                reasons = [
                    f"A stage-{t.stage} treatment ({self.p.stages[t.stage].name}); "
                    f"the plan is at stage {stage.number}."
                ]
            else:
                kind = "not_part_of_pathway"
                reasons = [f"Not offered by the pathway. Evidence: {t.evidence_summary}"]
        if t.evidence_status == "no_clinical_evidence" and req is None:
            reasons.insert(0, "No clinical evidence for this condition.")
        entry = self._entry(tid, kind, reasons, stage)
        entry["rules"] = rules
        if req is not None:
            entry["sources"] = _dedupe(
                [*(_source(self.kb, s) for s in req.sources), *entry["sources"]]
            )
        entry["asked_about"] = True
        return entry

    # ---------------------------------------------------------------- escalation text

    def escalation(self, esc: Escalation) -> dict[str, Any]:
        text = fill(self.kb, esc.text)
        sources = [_source(self.kb, s) for s in esc.sources]
        if esc.kind == "text":
            return {"id": esc.id, "text": text, "sources": sources}
        parts = []
        for iid in esc.instruments:
            inst = self.kb.instruments[iid]
            short = inst.synonyms[0] if inst.synonyms else inst.name
            if esc.kind == "outcome_no_mcid":
                parts.append(short)
                continue
            mcids = [
                t
                for t in inst.thresholds
                if t.kind in ("mcid", "responder") and "unverified" not in t.marks
            ]
            if not mcids:
                parts.append(f"{short} (no published MCID)")
                continue
            absolute = sorted({t.value for t in mcids if not t.relative})
            relative = sorted({t.value for t in mcids if t.relative})
            values = []
            if absolute:
                values.append(
                    f"{fmt_number(absolute[0])} points"
                    if len(absolute) == 1
                    else f"{fmt_number(absolute[0])}-{fmt_number(absolute[-1])} points "
                    "depending on the cohort"
                )
            values += [f"{v:.0%}" for v in relative]
            cites = list(dict.fromkeys(short_citation(self.kb, t.source.id) for t in mcids))
            cited = cites[0] if len(cites) == 1 else f"{len(cites)} studies"
            sources += [_source(self.kb, t.source) for t in mcids]
            parts.append(f"{short} change below the MCID ({' or '.join(values)}; {cited})")
        window = ""
        if esc.window:
            weeks = [fmt_number(self.p.parameter(pid)) for pid in esc.window]
            window = f" at the week {'-'.join(weeks)} review"
        if esc.kind == "outcome_no_mcid":
            return {"id": esc.id, "text": f"{', '.join(parts)}: {text}", "sources": sources}
        return {
            "id": esc.id,
            "text": f"{' or '.join(parts)}{window} {text}",
            "sources": _dedupe(sources),
        }


# --------------------------------------------------------------------------- plan()


def _check_ask_about(kb: KnowledgeBase, ask_about: Iterable[str]) -> list[str]:
    asked: list[str] = []
    problems: list[Problem] = []
    if isinstance(ask_about, str):
        ask_about = [ask_about]
    for i, tid in enumerate(ask_about):
        if tid in kb.treatments:
            if tid not in asked:
                asked.append(tid)
            continue
        near = closest(str(tid), kb.treatments)
        problems.append(
            Problem(
                f"ask_about[{i}]",
                "a treatment id from the knowledge base",
                short_repr(tid),
                f"did you mean {', '.join(near)}?" if near else "see `glutemed kb list treatments`",
            )
        )
    if problems:
        raise InputValueError("unknown treatment in ask_about", problems)
    return asked


def plan(
    case: Case,
    assessment: Assessment | None = None,
    kb: KnowledgeBase | None = None,
    *,
    ask_about: Iterable[str] = (),
    show_orthobiologics: bool = False,
    today: dt.date | None = None,
) -> CarePlan:
    """Make the staged care plan for one case.

    Parameters
    ----------
    case
        The clinical case (findings, imaging, treatments tried with their response, outcome
        records, patient factors).
    assessment
        Its assessment; computed with :func:`glutemed.reasoning.assess` when not given.
    kb
        The knowledge base (default: the bundled one).
    ask_about
        Treatment ids the clinician asks about. Each is answered: marked in the recommendations
        if recommended, otherwise listed in ``not_recommended`` with the reason and its evidence.
        On-request treatments (prolozone, MMAT, BMAC, ...) appear only this way.
    show_orthobiologics
        Ask about every on-request treatment of ``pathway.yaml``.
    today
        The plan date (to count weeks and injections in the past year); default: the case's
        ``assessment_date``, else today's date.

    Returns
    -------
    CarePlan

    Raises
    ------
    CaseValidationError
        When the case does not fit the knowledge base, or an outcome record cannot be scored.
    InputValueError
        When ``ask_about`` names an unknown treatment.
    KnowledgeBaseError
        When the knowledge base has no pathway rules.

    Examples
    --------
    >>> from glutemed.reasoning import load_case
    >>> from glutemed.pathway import plan
    >>> p = plan(load_case("src/glutemed/examples/cases/tendinopathy.yaml"))  # doctest: +SKIP
    >>> p.stage, [r.id for r in p.recommendations][:2]  # doctest: +SKIP
    (1, ['education_load_management', 'progressive_loading_exercise'])
    """
    kb = kb or load_kb()
    pw = kb.pathway
    if not pw.stages or not pw.stage_rules:
        raise KnowledgeBaseError(
            "the knowledge base has no pathway rules",
            [Problem("pathway.yaml", "stages and stage_rules", "none")],
        )
    validate_case(case, kb)
    asked = _check_ask_about(kb, ask_about)
    if show_orthobiologics:
        asked += [tid for tid in pw.on_request if tid not in asked]
    if assessment is None:
        assessment = assess(case, kb)
    today = today or case.assessment_date or dt.date.today()
    outcomes = summarise_outcomes(kb, case, min_weeks=pw.parameter("exercise_review_min_weeks"))
    facts = compute_facts(kb, case, assessment, outcomes, today)
    rule = next(r for r in pw.stage_rules if holds(r.when, facts))
    b = _Builder(kb, case, assessment, facts, rule, asked)

    indicated = pw.stages[rule.stage]
    stage = indicated
    notes: list[str] = []
    not_recommended: list[dict[str, Any]] = []
    drafts = b.drafts(stage)
    kept, excluded = _split(b, drafts)
    key = [d for d in drafts if d.offer.role in _KEY_ROLES]
    if (
        stage.fallback_stage is not None
        and key
        and all(d.offer.id in {e.offer.id for e, _ in excluded} for d in key)
    ):
        reasons = sorted({fill(kb, ex.reason) for _, exs in excluded for ex in exs})
        notes.append(
            f"Stage {indicated.number} ({indicated.name}) is indicated. {' '.join(reasons)} "
            f"Stage {stage.fallback_stage} options are offered instead."
        )
        not_recommended += [b.excluded_entry(d.offer, exs, indicated) for d, exs in excluded]
        stage = pw.stages[stage.fallback_stage]
        kept, excluded = _split(b, b.drafts(stage))
    not_recommended += [b.excluded_entry(d.offer, exs, stage) for d, exs in excluded]

    unique: dict[str, dict[str, Any]] = {}
    for n in not_recommended:
        unique.setdefault(n["id"], n)
    not_recommended = list(unique.values())
    recs = [b.recommendation(d, stage) for d in kept]
    recs.sort(key=lambda r: _ROLE_ORDER.get(r.role, 9))
    rec_ids = {r.id for r in recs}
    listed = rec_ids | {n["id"] for n in not_recommended}
    for n in not_recommended:
        if n["id"] in asked:
            n["asked_about"] = True
    for tid in asked:
        if tid not in listed:
            not_recommended.append(b.asked_entry(tid, stage, rule.status))

    if rule.status == "active" and pw.on_request and not any(t in asked for t in pw.on_request):
        names = ", ".join(kb.treatments[t].name for t in pw.on_request if t in kb.treatments)
        notes.append(
            f"Not listed: treatments shown only on request ({names}); ask for them to see "
            "their evidence and regulatory status."
        )
    notes += _conflict_notes(facts, outcomes)
    if rule.status == "off_pathway":
        notes.append(
            "Conditions can coexist: if gluteal tendon pain is still suspected after the re-check, "
            "add imaging findings or a pre-test estimate and plan again."
        )

    active = rule.status == "active"
    cautions = _plan_cautions(b, recs)
    review_after = _weeks(pw.parameter(stage.review_after)) if stage.review_after else None
    review_until = _weeks(pw.parameter(stage.review_until)) if stage.review_until else None
    return CarePlan(
        stage=stage.number,
        stage_name=stage.name,
        plain_stage_name=stage.plain_name,
        status=rule.status,
        indicated_stage=indicated.number,
        stage_rule={
            "id": rule.id,
            "text": fill(kb, rule.statement),
            "facts": _why_facts(kb, rule.when, facts),
            "sources": [_source(kb, s) for s in rule.sources],
        },
        facts=[{"id": fid, "text": fact_sentence(kb, fv)} for fid, fv in facts.items() if fv.holds],
        recommendations=recs,
        not_recommended=not_recommended,
        cautions=cautions,
        review_after_weeks=review_after,
        review_window_weeks=[review_after, review_until]
        if review_after is not None and review_until is not None
        else None,
        review=fill(kb, stage.review_text),
        escalate_if=[b.escalation(e) for e in stage.escalate_if],
        education=_education(kb) if active else None,
        exercise=_exercise(kb) if "progressive_loading_exercise" in rec_ids else None,
        rehabilitation=_rehabilitation(kb) if "postoperative_rehabilitation" in rec_ids else None,
        comparisons=[
            _comparison(kb, c.id)
            for c in pw.comparisons.values()
            if all(t in rec_ids for t in c.treatments)
        ],
        conventions=[_parameter(kb, pid) for pid in rule.conventions],
        outcomes=[o.to_dict() for o in outcomes.instruments],
        assessment={
            "red_flags": assessment.red_flags,
            "imaging": assessment.imaging,
            "severity": assessment.severity,
            "top_conditions": [
                {"id": c.id, "name": c.name, "probability": c.probability}
                for c in assessment.conditions[:3]
            ],
        },
        notes=notes,
        plan_date=today,
        versions=kb.versions(),
    )


def _weeks(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _split(
    b: _Builder, drafts: list[_Draft]
) -> tuple[list[_Draft], list[tuple[_Draft, list[Any]]]]:
    kept: list[_Draft] = []
    excluded: list[tuple[_Draft, list[Any]]] = []
    for d in drafts:
        exs = b.exclusions_for(d.offer)
        if exs:
            excluded.append((d, exs))
        else:
            kept.append(d)
    return kept, excluded


def _conflict_notes(facts: Facts, outcomes: OutcomeSummary) -> list[str]:
    if not outcomes.has_verdict:
        return []
    recorded_none = facts.get("exercise_no_response")
    recorded_good = facts.get("exercise_response")
    if recorded_none and recorded_none.holds and outcomes.responders:
        return [
            "The recorded response (none) conflicts with the measured outcome scores, which "
            "meet the MCID; the measured outcomes were used."
        ]
    if (
        recorded_good
        and recorded_good.holds
        and outcomes.non_responders
        and not outcomes.responders
    ):
        return [
            "The recorded response (good or partial) conflicts with the measured outcome "
            "scores, which are below the MCID; the measured outcomes were used."
        ]
    return []


def _plan_cautions(b: _Builder, recs: list[Recommendation]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in recs:
        for c in r.cautions:
            entry = out.setdefault(c["id"], {**c, "applies_to": []})
            entry["applies_to"].append(r.id)
    return list(out.values())


def _parameter(kb: KnowledgeBase, pid: str) -> dict[str, Any]:
    p = kb.pathway.parameters[pid]
    return {
        "id": p.id,
        "name": p.name,
        "value": p.value,
        "unit": p.unit,
        "basis": p.basis,
        "statement": p.statement,
        "marks": list(p.marks),
        "sources": [_source(kb, s) for s in p.sources],
    }


def _education(kb: KnowledgeBase) -> dict[str, Any]:
    def item(e: Any) -> dict[str, Any]:
        return {
            "id": e.id,
            "advice": e.advice,
            "plain": e.plain,
            "rationale": e.rationale,
            "evidence_note": e.evidence_note,
            "level": e.level,
            "marks": list(e.marks),
            "sources": [_source(kb, s) for s in e.sources],
        }

    return {
        "avoid": [item(e) for e in kb.pathway.education if e.kind == "avoid"],
        "helps": [item(e) for e in kb.pathway.education if e.kind == "helps"],
    }


def _exercise(kb: KnowledgeBase) -> dict[str, Any]:
    return {
        "phases": [
            {
                "id": ph.id,
                "order": ph.order,
                "name": ph.name,
                "phase_type": ph.phase_type,
                "timing": ph.timing,
                "content": ph.content,
                "dose": ph.dose,
                "evidence_note": ph.evidence_note,
                "gap": ph.gap,
                "sources": [_source(kb, s) for s in ph.sources],
            }
            for ph in kb.pathway.exercise_phases
        ],
        "durations": [
            _parameter(kb, pid) for pid in _EXERCISE_PARAMETERS if pid in kb.pathway.parameters
        ],
        "dose": kb.treatments["progressive_loading_exercise"].dose,
    }


def _rehabilitation(kb: KnowledgeBase) -> dict[str, Any]:
    return {
        "basis": "protocols, not trial evidence",
        "elements": [
            {
                "id": r.id,
                "order": r.order,
                "element": r.element,
                "timing": r.timing,
                "content": r.content,
                "basis": r.basis,
                "outcome": None
                if r.outcome is None
                else {
                    "value": r.outcome.value,
                    "note": r.outcome.note,
                    "source": _source(kb, r.outcome.source),
                },
                "sources": [_source(kb, s) for s in r.sources],
            }
            for r in kb.pathway.rehabilitation
        ],
    }


def _comparison(kb: KnowledgeBase, cid: str) -> dict[str, Any]:
    c = kb.pathway.comparisons[cid]
    return {
        "id": c.id,
        "name": c.name,
        "treatments": list(c.treatments),
        "summary": c.summary,
        "figures": [
            {
                "measure": f.measure,
                "arm": f.arm,
                "value": f.value,
                "events": f.events,
                "total": f.total,
                "text": f.text,
                "marks": list(f.marks),
                "source": _source(kb, f.source),
            }
            for f in c.figures
        ],
        "caveats": list(c.caveats),
    }
