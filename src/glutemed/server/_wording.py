"""Clinician wording: what a page shows instead of ids, field names and source keys.

The knowledge base's texts and the engine's explanations are written for the record and still
carry working references (``dx_r7``, ``diagnosis.md §3``, ``night_pain``); error problems name
form fields (``f_lateral_hip_pain``) and allowed values (``not_done``). A page shows words:

- :meth:`Wording.text` (the ``clin`` template filter) turns a text into clinician prose: a source
  key goes (its short citation stands next to it), an evidence-dossier locator goes, a knowledge
  base id becomes its name, any other ``snake_case`` token becomes words and ``->`` an arrow;
- :meth:`Wording.label` (the ``field_label`` filter) names a form field as its label says;
- :meth:`Wording.problems` gives the problems of an error as ``{field, label, text}`` for the form
  that re-renders beside the field.

Nothing clinical is written here: the names come from the knowledge base.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from glutemed.errors import GlutemedError
from glutemed.knowledge import KnowledgeBase

__all__ = ["FIELD_LABELS", "Wording"]

#: Labels of the app's own form fields (the knowledge base names the rest).
FIELD_LABELS: dict[str, str] = {
    "visit_date": "Visit date",
    "measured_on": "Date measured",
    "given_on": "Started on",
    "setting": "Care setting",
    "side": "Side",
    "age_years": "Age (years)",
    "birth_date": "Date of birth",
    "family_name": "Family name",
    "given_name": "Given name",
    "sampling_rate_hz": "Frame rate (Hz)",
    "file": "Movement file",
    "task": "Task",
    "treatment_id": "Treatment",
    "response": "Response",
    "instrument": "Questionnaire",
    "total": "Total score",
    "username": "User name",
    "password": "Password",
    "new_password": "New password",
    "current_password": "Current password",
    "display_name": "Name",
    "role": "Role",
    "patient_id": "Patient",
    "visit_id": "Visit",
    "version": "Record version",
    "reason": "Reason",
    "entity_type": "Record type",
    "sessions_done": "Sessions done",
    "sessions_prescribed": "Sessions prescribed",
    "pain_during_nrs_0_10": "Pain during (0-10)",
    "pain_after_nrs_0_10": "Pain after (0-10)",
    "settled_next_morning": "Settled by next morning",
    "effort": "How hard it felt",
    "pelvis_level": "Pelvis kept level",
    "programme_week": "Programme week",
    "entries": "Exercises",
    "programme": "Exercise programme",
    "stage": "Stage",
    "decision": "Decision",
    "next_stage": "Next stage",
    "programme_id": "Exercise programme",
    "stage_id": "Stage",
    "next_stage_id": "Next stage",
}
_PREFIXES = ("f_", "i_", "factor_", "pretest_", "item_")
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
#: A dossier locator inside a citation: "diagnosis.md §3 and §1a cluster rows (...)" up to the
#: next separator at the same bracket depth.
_DOSSIER = re.compile(r"\b[\w-]+\.md\b")
#: A parenthesised "field_name: value" left in a text.
_FIELD_DUMP = re.compile(r"\s*\(\s*[a-z][a-z0-9]*(?:_[a-z0-9]+)+\s*:[^()]*\)")


def _strip_balanced(text: str, start: int) -> int:
    """Index just past the locator that begins at ``start`` (stops at ; , ] or an unmatched ))."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            if depth == 0:
                return i
            depth -= 1
        elif ch in ";," and depth == 0:
            return i
        i += 1
    return i


class Wording:
    """Names from one knowledge base, for the texts a clinician reads."""

    def __init__(self, kb: KnowledgeBase) -> None:
        names: dict[str, str] = {}
        for group in (
            kb.findings,
            kb.conditions,
            kb.treatments,
            kb.instruments,
            kb.red_flags,
            kb.movement_measures,
        ):
            for key, item in group.items():
                name = getattr(item, "name", None)
                if isinstance(name, str) and name:
                    names[key] = name
        for key, ex in kb.exercises.items():
            names[key] = ex.name
        for key, prog in kb.programmes.items():
            names[key] = prog.name
            for stage in prog.stages:
                names[stage.id] = stage.name
        self._names = names
        keys = sorted(kb.sources, key=len, reverse=True)
        alternatives = "|".join(re.escape(k) for k in keys) or r"(?!)"
        self._source_key = re.compile(
            rf"\s*[;,]?\s*\b(?:{alternatives}|(?:dx|tx)_r\d+|seed_\d+)\b\s*:?"
        )

    def name(self, key: str) -> str:
        """The knowledge base's name for an id, else the id in words."""
        return self._names.get(key) or key.replace("_", " ")

    def text(self, value: Any) -> str:
        """Clinician prose for a text from the knowledge base, the engine or an error."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list | tuple):
            return "; ".join(self.text(v) for v in value)
        text = str(value)
        text = self._drop_dossier_locators(text)
        text = self._drop_source_keys(text)
        text = _FIELD_DUMP.sub("", text)  # "(threshold_source: none)": a field, not prose
        text = _SNAKE.sub(lambda m: self.name(m.group(0)), text)
        text = text.replace(" -> ", " → ").replace("->", "→")
        text = re.sub(r"\(\s*[;,]?\s*\)|\[\s*[;,]?\s*\]", "", text)
        text = re.sub(r"\s+([,;.)\]])", r"\1", text)
        text = re.sub(r"([(\[])\s+", r"\1", text)
        text = text.replace(".;", ";").replace(";.", ".")
        return " ".join(text.split())

    def _drop_dossier_locators(self, text: str) -> str:
        while (m := _DOSSIER.search(text)) is not None:
            start = m.start()
            end = _strip_balanced(text, m.end())
            # take the separator before the locator with it ("Kinsella 2024, diagnosis.md §1a")
            before = re.sub(r"\b(?:in|see|from|of)$", "", text[:start].rstrip()).rstrip()
            if before.endswith((",", ";")):
                before = before[:-1]
            elif end < len(text) and text[end] in ";,":
                end += 1
            text = before + (" " if before and not before.endswith(("(", "[")) else "") + text[end:]
        return text

    def _drop_source_keys(self, text: str) -> str:
        # the short citation stands next to each key in these texts, so the key itself goes
        return self._source_key.sub("", text)

    def label(self, location: Any) -> str:
        """The label a clinician sees for a form field or problem location."""
        loc = str(location or "")
        last = loc.rsplit(".", 1)[-1].rsplit("/", 1)[-1]
        if last in FIELD_LABELS:
            return FIELD_LABELS[last]
        if last.startswith("pretest_"):
            return f"Your pre-test estimate for {self.name(last[len('pretest_') :])}"
        for prefix in _PREFIXES:
            if last.startswith(prefix) and last[len(prefix) :] in self._names:
                return self._names[last[len(prefix) :]]
        if last in self._names:
            return self._names[last]
        words = last.replace("_", " ").strip()
        return words[:1].upper() + words[1:] if words else "This form"

    def problems(self, exc: GlutemedError | Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
        """The problems of an error in words, each with the field it belongs to."""
        items: Iterable[Mapping[str, Any]] = (
            [p.as_dict() for p in exc.problems] if isinstance(exc, GlutemedError) else exc
        )
        out = []
        for p in items:
            expected = self.text(p.get("expected"))
            found = self.text(p.get("found"))
            text = f"expected {expected}" + (f", got {found}" if found else "")
            if p.get("hint"):
                text += f" ({self.text(p['hint'])})"
            location = p.get("location")
            out.append({"field": str(location or ""), "label": self.label(location), "text": text})
        return out
