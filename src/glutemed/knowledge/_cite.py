"""Short citations of knowledge-base sources, for text a clinician reads."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from glutemed.knowledge._loader import KnowledgeBase

_AUTHOR_START = re.compile(r"^[A-Z][A-Za-z'\-]+ [A-Z]{1,3}[ ,.]")


def short_citation(kb: KnowledgeBase, source_id: str) -> str:
    """Return a short citation for display.

    'Surname Year' for author-led citations (e.g. 'Grimaldi 2017'), 'seed page 000' for the
    seed pages, otherwise the start of the title with the year.
    """
    src = kb.sources.get(source_id)
    if src is None:
        return source_id
    if src.kind == "seed_page":
        return f"seed page {source_id.removeprefix('seed_')}"
    if _AUTHOR_START.match(src.citation):
        surname = src.citation.split(" ", 1)[0]
        return f"{surname} {src.year}" if src.year else surname
    title = src.citation.split(". ")[0].split(" http")[0]
    if len(title) > 60:
        title = title[:57].rsplit(" ", 1)[0] + "..."
    return f"{title} ({src.year})" if src.year else title


#: Proper names that begin names in the knowledge base (tests, signs, grades, rules named after
#: people); they keep their capital inside a sentence.
EPONYMS = frozenset(
    {"Trendelenburg", "Ober", "Puranen-Orava", "Goutallier-Fuchs", "Fearon", "Sutlive", "Patrick"}
)


def lower_first(text: str) -> str:
    """A knowledge-base name inside a sentence: "Groin pain" -> "groin pain".

    Only the first letter changes, so "Mass on MRI" becomes "mass on MRI"; a first word that is
    an acronym ("MRI", "NSAIDs", "ADD-R", "T2") or a proper name ("Trendelenburg sign") stays.
    """
    first = text.split(" ", 1)[0]
    if not first or first in EPONYMS or any(c.isupper() or c.isdigit() for c in first[1:]):
        return text
    return text[:1].lower() + text[1:]
