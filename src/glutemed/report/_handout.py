"""The patient handout: the condition, self-care, the plan and when to come back, in plain words.

Every sentence the handout shows comes from the knowledge base (``pathway.yaml``: plain-language
texts, education items, exercise phases, rehabilitation timeline, exclusions) or from the care
plan; the template holds only headings and connecting words. Readability is checked in the tests
(Flesch-Kincaid grade of :func:`handout_plain_text` at most 8 for every bundled example case).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from glutemed.knowledge import KnowledgeBase, load_kb
from glutemed.pathway import CarePlan, fill
from glutemed.pathway import plan as make_plan
from glutemed.reasoning import Case
from glutemed.report._figures import decision_aid_context, decision_aid_for
from glutemed.report._output import check_output_path, write_html_or_pdf

__all__ = [
    "handout_context",
    "handout_plain_text",
    "render_handout_html",
    "write_handout",
]

_NOW_ROLES = ("referral", "first_line", "continue")
_CHOICE_ROLES = ("option", "consider")
_IF_NEEDED_ROLES = ("if_needed",)
_SIDES = {"left": "left hip", "right": "right hip", "bilateral": "hips"}


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("glutemed.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _texts(kb: KnowledgeBase, topic: str, key: str | None = None) -> list[str]:
    return [fill(kb, t.text) for t in kb.pathway.texts(topic, key)]


def _condition_key(kb: KnowledgeBase, care: CarePlan) -> str | None:
    if care.stage == 0:
        return None
    fact_ids = {f["id"] for f in care.facts}
    grade = care.assessment.get("severity", {}).get("grade")
    if "high_grade_fatty_infiltration" in fact_ids:
        key = "irreparable_abductor_tear"
    elif grade == "full_thickness_tear":
        key = "gluteal_tendon_full_thickness_tear"
    elif grade == "partial_tear":
        key = "gluteal_tendon_partial_tear"
    else:
        key = next(
            (
                c["id"]
                for c in care.assessment.get("top_conditions", [])
                if c["id"] in kb.conditions
                and kb.conditions[c["id"]].role == "target"
                and kb.pathway.texts("condition", c["id"])
            ),
            "gtps",
        )
    return key if kb.pathway.texts("condition", key) else None


def _item_text(kb: KnowledgeBase, rec_id: str, name: str) -> str:
    texts = _texts(kb, "treatment", rec_id)
    return texts[0] if texts else name


def _filming(kb: KnowledgeBase) -> list[str]:
    """How to film a movement test at home (empty if the motion layer is not installed)."""
    try:
        from glutemed.motion import settings_from_kb
        from glutemed.motion.video import filming_guidance
    except ImportError:
        return []
    return filming_guidance(settings_from_kb(kb))


def handout_context(case: Case, care: CarePlan, kb: KnowledgeBase) -> dict[str, Any]:
    """Return the data the handout template shows (plain-language texts only).

    Parameters
    ----------
    case
        The case (only its ``side`` and patient factors' preferences are read; no identifiers).
    care
        Its care plan.
    kb
        The knowledge base the plan was made with.

    Returns
    -------
    dict
        Sections of the handout: ``intro``, ``urgent``, ``condition``, ``outlook``, ``plan``,
        ``now``, ``choices``, ``if_needed``, ``left_out``, ``avoid``, ``helps``, ``self_care``,
        ``exercise``, ``decision`` (icon arrays of a trial's absolute outcomes, when a
        programme of a recommended treatment has them), ``after_surgery``, ``review``,
        ``come_back``, ``closing``.
    """
    pw = kb.pathway
    urgent = care.status == "urgent_referral"
    plan_key = care.status if care.stage == 0 else str(care.stage)
    recs = care.recommendations
    condition_key = _condition_key(kb, care)

    def items(roles: tuple[str, ...]) -> list[str]:
        out: list[str] = []
        for r in recs:
            if r.role in roles:
                text = _item_text(kb, r.id, r.name)
                if text not in out:
                    out.append(text)
        return out

    excluded_rules = {rule for n in care.not_recommended for rule in n.get("rules", [])}
    left_out = [fill(kb, ex.plain) for ex in pw.exclusions if ex.id in excluded_rules and ex.plain]
    rec_ids = {r.id for r in recs}
    exercise = (
        [fill(kb, ph.plain) for ph in pw.exercise_phases]
        if "progressive_loading_exercise" in rec_ids
        else []
    )
    aid = decision_aid_for(kb, rec_ids)
    decision = decision_aid_context(aid) if aid is not None else None
    after_surgery = (
        [fill(kb, r.plain) for r in pw.rehabilitation]
        if "postoperative_rehabilitation" in rec_ids
        else []
    )
    review = ""
    if care.review_window_weeks:
        a, b = care.review_window_weeks
        review = f"We will check how you are doing in about {a:g} to {b:g} weeks."
    elif care.review_after_weeks:
        review = f"We will check how you are doing in about {care.review_after_weeks:g} weeks."
    elif care.stage in (3, 4) and care.status == "active":
        review = "We will see you again after you have seen the surgeon."
    elif care.status == "off_pathway":
        review = "We will see you again once we have checked the cause of your pain."
    return {
        "side": _SIDES.get(case.side, "hip"),
        "intro": _texts(kb, "intro"),
        "urgent": urgent,
        "condition": _texts(kb, "condition", condition_key) if condition_key else [],
        "outlook": _texts(kb, "self_care", "outlook") if care.stage in (1, 2) else [],
        "plan": _texts(kb, "plan", plan_key),
        "now": items(_NOW_ROLES),
        "choices": items(_CHOICE_ROLES),
        "if_needed": items(_IF_NEEDED_ROLES),
        "left_out": list(dict.fromkeys(left_out)),
        "avoid": [e.plain for e in pw.education if e.kind == "avoid"] if care.education else [],
        "helps": [e.plain for e in pw.education if e.kind == "helps"] if care.education else [],
        "self_care": [
            t for t in _texts(kb, "self_care") if t not in _texts(kb, "self_care", "outlook")
        ]
        if care.education
        else [],
        "exercise": exercise,
        "decision": decision,
        "after_surgery": after_surgery,
        "review": review,
        "come_back_intro": _texts(kb, "come_back", "general"),
        "come_back": [
            fill(kb, t.text)
            for t in pw.patient_texts
            if t.topic == "come_back" and t.key != "general"
        ],
        "closing": _texts(kb, "closing"),
        "filming": _filming(kb),
        "plan_date": care.plan_date.isoformat(),
        "versions": care.versions,
    }


def render_handout_html(
    case: Case,
    plan: CarePlan,
    kb: KnowledgeBase | None = None,
    *,
    toolbar: Sequence[tuple[str, str]] = (),
    script_src: str = "",
) -> str:
    """Render the patient handout as a standalone HTML page.

    Parameters
    ----------
    case
        The case the plan was made for.
    plan
        Its care plan (:func:`glutemed.pathway.plan`).
    kb
        The knowledge base (default: the bundled one).
    toolbar
        ``(label, href)`` links shown above the handout on screen, never printed.
    script_src
        URL of a script that makes the "Print" button work (``[data-action=print]``); without it
        no print button is shown.

    Returns
    -------
    str
        HTML (UTF-8) with embedded print styles; no external resources unless ``script_src``.
    """
    kb = kb or load_kb()
    template = _env().get_template("handout.html.j2")
    return template.render(
        **handout_context(case, plan, kb), toolbar=list(toolbar), script_src=script_src
    )


def write_handout(
    case: Case,
    path: str | Path,
    plan: CarePlan | None = None,
    kb: KnowledgeBase | None = None,
    *,
    today: dt.date | None = None,
) -> Path:
    """Write the patient handout to ``path`` as HTML (``.html``) or PDF (``.pdf``).

    Parameters
    ----------
    case
        The case.
    path
        Output file; the suffix chooses the format.
    plan
        The care plan; made with :func:`glutemed.pathway.plan` when not given.
    kb
        The knowledge base (default: the bundled one).
    today
        Plan date when the plan is made here (see :func:`glutemed.pathway.plan`).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InputValueError
        For a suffix other than ``.html``/``.htm``/``.pdf``.
    DataFileError
        When the file cannot be written.
    """
    check_output_path(path, "handout")
    kb = kb or load_kb()
    care = plan or make_plan(case, kb=kb, today=today)
    html = render_handout_html(case, care, kb)
    return write_html_or_pdf(html, path, "handout")


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "li", "h1", "h2", "h3", "title", "div", "section", "footer"})
    _SKIP = frozenset({"style", "script", "title"})

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[str] = []
        self._current: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        if tag in self._BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip -= 1
        if tag in self._BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._current.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._current).split())
        self._current = []
        if text:
            self.blocks.append(text)

    def close(self) -> None:
        super().close()
        self._flush()


def handout_plain_text(html: str) -> str:
    """Return the visible text of a handout, one block per line, each ending with punctuation.

    Headings and list items become sentences of their own (a full stop is added where a block
    has no closing punctuation), which is how a reader meets them; this is the text the
    readability test scores. The footer with version stamps is left out.
    """
    body = html.split('<footer class="versions"', 1)[0]
    parser = _TextExtractor()
    parser.feed(body)
    parser.close()
    lines = [b if b[-1] in ".!?:" else b + "." for b in parser.blocks]
    return "\n".join(lines)
