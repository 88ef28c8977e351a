"""Evidence is stated no stronger than it is: no stated level beats the best study cited for it.

A study lends its level to a claim of effect only if it found one: trials that found no
difference and studies that describe who was treated lend none, and a level-1 review of
low-quality trials lends level 2 (``TreatmentEvidence.supporting_level``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glutemed.knowledge import KnowledgeBase, load_kb
from tests.knowledge._helpers import edit_kb_file


def _best_level_by_source(kb: KnowledgeBase) -> dict[str, int]:
    best: dict[str, int] = {}
    for t in kb.treatments.values():
        for e in t.evidence:
            lvl = e.supporting_level
            if lvl is not None:
                best[e.source.id] = min(lvl, best.get(e.source.id, 9))
    return best


def _overstated_treatments(kb: KnowledgeBase) -> list[str]:
    too_strong = []
    for t in kb.treatments.values():
        if t.evidence_level is None:
            continue
        levels = [e.supporting_level for e in t.evidence if e.supporting_level is not None]
        best = min(levels) if levels else 5
        if t.evidence_level < best:
            too_strong.append(f"{t.id}: stated {t.evidence_level}, best supporting study {best}")
    return too_strong


def test_no_treatment_level_is_stronger_than_its_best_supporting_study(kb: KnowledgeBase) -> None:
    assert not _overstated_treatments(kb)


def test_the_level_check_catches_the_old_shockwave_level(kb_copy: Path) -> None:
    def old(data: dict[str, Any]) -> None:
        for t in data["treatments"]:
            if t["id"] == "shockwave_therapy":
                t["evidence_level"] = 1

    edit_kb_file(kb_copy, "treatments.yaml", old)
    found = _overstated_treatments(load_kb(kb_copy, check_manifest=False))
    assert found == ["shockwave_therapy: stated 1, best supporting study 2"]


def test_no_pathway_action_or_advice_is_stronger_than_the_studies_it_cites(
    kb: KnowledgeBase,
) -> None:
    best = _best_level_by_source(kb)
    stated: list[tuple[str, int, list[str]]] = []
    for a in kb.pathway.actions.values():
        if a.evidence_level is not None:
            stated.append((a.id, a.evidence_level, [s.id for s in a.sources]))
    for item in kb.pathway.education:
        if item.level is not None:
            stated.append((item.id, item.level, [s.id for s in item.sources]))
    too_strong = []
    for ident, level, source_ids in stated:
        known = [best[s] for s in source_ids if s in best]
        floor = min(known) if known else 5  # no graded study cited: expert opinion at most
        if level < floor:
            too_strong.append(f"{ident}: stated {level}, best cited study {floor}")
    assert not too_strong, too_strong


def test_shockwave_is_level_2_conflicting(kb: KnowledgeBase) -> None:
    shock = kb.treatments["shockwave_therapy"]
    assert (shock.evidence_level, shock.evidence_status) == (2, "conflicting")
    null_level_1 = [e for e in shock.evidence if e.level == 1 and e.finding == "no_difference"]
    assert null_level_1, "the level-1 dose trial found no difference and is said so"


def test_prp_is_not_a_default_option_and_its_placebo_trial_is_stated(kb: KnowledgeBase) -> None:
    prp = kb.treatments["prp_injection"]
    assert not prp.recommend_by_default
    assert prp.evidence_status == "no_better_than_placebo"
    assert "intratendinous" in prp.evidence_summary and "placebo" in prp.evidence_summary
    offered = {o.treatment for s in kb.pathway.stages.values() for o in s.offers}
    assert "prp_injection" not in offered
    assert "prp_injection" in kb.pathway.on_request
    (text,) = kb.pathway.texts("treatment", "prp_injection")
    assert "do not agree" not in text.text and "dummy" in text.text


def test_partial_tear_repair_is_not_called_the_default(kb: KnowledgeBase) -> None:
    partial = [r for r in kb.pathway.stage_rules if "partial_tear" in r.when.all_of]
    assert partial
    for rule in partial:
        assert "repair is the default" not in rule.statement, rule.id
        assert "not a default" in rule.statement, rule.id
    assert kb.pathway.actions["surgical_referral"].evidence_level == 4


def test_corrections_call_shockwave_conflicting_not_supported(kb: KnowledgeBase) -> None:
    for c in kb.corrections.values():
        words = c.correction.lower()
        if "shockwave_therapy" in c.related and "shockwave" in words:
            assert "conflicting" in words, c.id


def test_fda_statements_cite_the_fda_page(kb: KnowledgeBase) -> None:
    fda = kb.sources["fda_regenerative_2021"]
    assert fda.url is not None and fda.url.startswith("https://www.fda.gov/")
    for kind, entry in kb.iter_entries():
        if kind == "sources":
            continue
        assert "tx_r60" not in kb.cited_source_ids(entry), getattr(entry, "id", kind)


def test_seed_corrections_of_the_issue(kb: KnowledgeBase) -> None:
    assert kb.corrections["corr_004_innervation"].verdict == "partly_supported"
    assert "corr_cell_therapy_called_stem_cell" in kb.corrections
    assert "conflict of interest" in kb.corrections["corr_medically_reviewed_by_seller"].correction
