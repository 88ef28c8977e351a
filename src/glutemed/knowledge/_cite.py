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
