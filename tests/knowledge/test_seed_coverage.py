"""Every claim of both seed pages maps to knowledge-base entries or a recorded correction."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

CLAIMS = Path(__file__).resolve().parents[1] / "data" / "seed_claims.yaml"
SEED_FILES = {"000": "000_a5769d4104de2456.txt", "004": "004_fd3919d430bb4049.txt"}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'")).strip().lower()


@pytest.fixture(scope="module")
def claims() -> list[dict]:
    return yaml.safe_load(CLAIMS.read_text("utf-8"))["claims"]


@pytest.fixture(scope="module")
def seeds(shared_dir: Path) -> dict[str, str]:
    return {k: _norm((shared_dir / "seeds" / v).read_text("utf-8")) for k, v in SEED_FILES.items()}


def test_every_claim_maps_to_known_ids(kb, claims) -> None:
    missing = []
    for c in claims:
        assert c["maps_to"], f"claim maps to nothing: {c['claim']!r}"
        for ident in c["maps_to"]:
            try:
                kb.get(ident)
            except KeyError:
                missing.append((c["claim"][:60], ident))
    assert not missing, missing


@pytest.mark.reference_data
def test_claims_are_quoted_from_the_seeds(claims, seeds) -> None:
    not_found = [c["claim"] for c in claims if _norm(c["claim"]) not in seeds[c["seed"]]]
    # one claim joins three bullet points of the examination list; each part must be present
    for claim in list(not_found):
        parts = [p for p in re.split(r"[;•]", claim) if p.strip()]
        if len(parts) > 1 and all(_norm(p) in " ".join(seeds.values()) for p in parts):
            not_found.remove(claim)
    assert not not_found, not_found


@pytest.mark.reference_data
def test_every_seed_bullet_is_in_the_checklist(shared_dir: Path, claims) -> None:
    joined = " ".join(_norm(c["claim"]) for c in claims)
    uncovered = []
    for seed, name in SEED_FILES.items():
        for line in (shared_dir / "seeds" / name).read_text("utf-8").splitlines():
            if line.strip().startswith("•"):
                bullet = _norm(line.strip().lstrip("•"))
                if len(bullet.split()) < 2:  # section headings ("symptoms", "diagnose")
                    continue
                if bullet not in joined:
                    uncovered.append((seed, bullet))
    assert not uncovered, uncovered


def test_claims_with_a_correction_show_verdict_and_source(kb, claims) -> None:
    corrections = {c.id: c for c in kb.corrections.values()}
    for c in claims:
        for ident in c["maps_to"]:
            if ident in corrections:
                corr = corrections[ident]
                assert corr.seed == c["seed"]
                assert corr.sources and corr.correction


def test_both_seeds_have_corrections_of_every_needed_kind(kb) -> None:
    verdicts = {(c.seed, c.verdict) for c in kb.corrections.values()}
    assert ("000", "unsupported") in verdicts or ("000", "contradicted") in verdicts
    assert any(seed == "004" and v != "supported" for seed, v in verdicts)
