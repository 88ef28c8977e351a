"""Ranked full-text search over the knowledge base.

A small BM25-style ranker over each entry's fields, with field weights (id and name count most,
then synonyms, then descriptions) and a bonus for an exact phrase. Tokens are lower-cased, split
on non-alphanumerics and lightly stemmed so that "crossed", "crossing" and "cross" meet.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from glutemed.knowledge._loader import KnowledgeBase

__all__ = ["SearchHit", "search"]

_TOKEN = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s")

#: field name -> weight; other string fields count with weight 1
_WEIGHTS = {
    "id": 4.0,
    "name": 4.0,
    "synonyms": 3.0,
    "claim": 2.0,
    "summary": 1.5,
    "definition": 1.5,
    "description": 1.5,
    "features": 1.5,
}
_SKIP = {"source", "sources", "regulatory_sources", "marks"}


def _stem(token: str) -> str:
    for suffix in _SUFFIXES:
        if len(token) > len(suffix) + 3 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def _tokens(text: str) -> list[str]:
    return [_stem(t) for t in _TOKEN.findall(text.lower().replace("_", " "))]


def _texts(obj: Any, field: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(obj, str):
        yield field, obj
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            if name in _SKIP:
                continue
            yield from _texts(getattr(obj, name), field or name)
    elif isinstance(obj, list | tuple):
        for x in obj:
            yield from _texts(x, field)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _texts(k, field)
            yield from _texts(v, field)


@dataclass(frozen=True)
class SearchHit:
    """One search result."""

    kind: str
    id: str
    name: str
    score: float
    matched_fields: tuple[str, ...]


@dataclass(frozen=True)
class _Doc:
    kind: str
    id: str
    name: str
    fields: dict[str, Counter[str]]
    phrases: dict[str, str]
    length: float


@lru_cache(maxsize=4)
def _index(kb: KnowledgeBase) -> tuple[list[_Doc], dict[str, int], float]:
    docs: list[_Doc] = []
    df: Counter[str] = Counter()
    for kind, entry in kb.iter_entries():
        if kind == "sources":
            continue
        fields: dict[str, Counter[str]] = {}
        phrases: dict[str, str] = {}
        for field, text in _texts(entry):
            fields.setdefault(field, Counter()).update(_tokens(text))
            phrases[field] = phrases.get(field, "") + " " + text.lower()
        length = sum(sum(c.values()) for c in fields.values())
        ident = str(getattr(entry, "id", ""))
        docs.append(_Doc(kind, ident, str(getattr(entry, "name", ident)), fields, phrases, length))
        df.update({t for c in fields.values() for t in c})
    avg = sum(d.length for d in docs) / max(len(docs), 1)
    return docs, dict(df), avg


def search(
    kb: KnowledgeBase, text: str, *, kind: str | None = None, limit: int = 10
) -> list[SearchHit]:
    """Rank knowledge-base entries by relevance to ``text``.

    Parameters
    ----------
    kb
        The knowledge base.
    text
        Free text, e.g. ``"trendelenburg"``, ``"superior gluteal"``, ``"sitting cross-legged"``.
    kind
        Restrict to one kind (``"findings"``, ``"treatments"``, ...).
    limit
        Maximum number of hits.

    Returns
    -------
    list of SearchHit
        Best first; empty when nothing matches.
    """
    query = _tokens(text)
    if not query:
        return []
    phrase = " ".join(_TOKEN.findall(text.lower()))
    docs, df, avg = _index(kb)
    n_docs = len(docs)
    k1, b = 1.2, 0.3  # mild length normalisation: well-documented entries are long
    hits: list[SearchHit] = []
    for doc in docs:
        if kind is not None and doc.kind != kind:
            continue
        score = 0.0
        matched: set[str] = set()
        norm = k1 * (1 - b + b * doc.length / max(avg, 1e-9))
        for token in set(query):
            idf = math.log(1 + (n_docs - df.get(token, 0) + 0.5) / (df.get(token, 0) + 0.5))
            for field, counts in doc.fields.items():
                tf = counts.get(token, 0)
                if tf:
                    weight = _WEIGHTS.get(field, 1.0)
                    score += weight * idf * tf * (k1 + 1) / (tf + norm)
                    matched.add(field)
        if score <= 0:
            continue
        covered = sum(1 for t in set(query) if any(t in c for c in doc.fields.values()))
        score *= covered / len(set(query))
        if len(query) > 1 and any(
            phrase in " ".join(_TOKEN.findall(p)) for p in doc.phrases.values()
        ):
            score *= 2.0
        hits.append(SearchHit(doc.kind, doc.id, doc.name, round(score, 4), tuple(sorted(matched))))
    hits.sort(key=lambda h: (-h.score, h.kind, h.id))
    return hits[:limit]
