"""Small text helpers: fill ``{parameter_id}`` placeholders and format numbers."""

from __future__ import annotations

import re

from glutemed.knowledge import PLACEHOLDER, KnowledgeBase

__all__ = ["fill", "fmt_number"]


def fmt_number(value: float, digits: int = 1) -> str:
    """Format a number without trailing zeros (``8.0`` -> ``'8'``, ``2.76`` -> ``'2.8'``)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def fill(kb: KnowledgeBase, text: str) -> str:
    """Replace ``{parameter_id}`` placeholders with the parameters' values.

    Unknown names are left as written (the loader reports them as knowledge-base problems).
    """
    params = kb.pathway.parameters

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return fmt_number(params[name].value) if name in params else match.group(0)

    return PLACEHOLDER.sub(sub, text)
