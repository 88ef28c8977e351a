"""A case from a dictionary of findings, split into history/examination and investigations."""

from __future__ import annotations

from glutemed.knowledge import KnowledgeBase
from glutemed.reasoning import Case


def case_of(kb: KnowledgeBase, findings: dict[str, str], setting: str, age: int) -> Case:
    """A woman of ``age`` in ``setting`` with these findings, each in its section."""
    imaging = {
        f: v for f, v in findings.items() if kb.findings[f].kind not in ("history", "examination")
    }
    history = {f: v for f, v in findings.items() if f not in imaging}
    return Case.model_validate(
        {
            "setting": setting,
            "patient": {"age_years": age, "sex": "female"},
            "findings": history,
            "imaging": imaging,
        }
    )
