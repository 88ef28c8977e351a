"""Write a rendered HTML document as HTML or PDF (the file suffix chooses)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from glutemed._checks import short_repr
from glutemed.errors import DataFileError, InputValueError, Problem

__all__ = ["check_output_path", "write_html_or_pdf"]

_SUFFIXES = (".html", ".htm", ".pdf")


def check_output_path(path: str | Path, what: str) -> Path:
    """Return ``path`` as a Path if its suffix is .html, .htm or .pdf (else InputValueError)."""
    out = Path(path)
    if out.suffix.lower() not in _SUFFIXES:
        raise InputValueError(
            f"unsupported {what} format",
            [Problem("path", "a file name ending in .html or .pdf", short_repr(out.name))],
        )
    return out


def write_html_or_pdf(html: str, path: str | Path, what: str) -> Path:
    """Write ``html`` to ``path``: as PDF (WeasyPrint) for ``.pdf``, as HTML otherwise.

    Raises
    ------
    InputValueError
        For a suffix other than ``.html``/``.htm``/``.pdf``.
    DataFileError
        When the file cannot be written.
    """
    out = check_output_path(path, what)
    try:
        if out.suffix.lower() == ".pdf":
            weasyprint: Any = importlib.import_module("weasyprint")
            weasyprint.HTML(string=html).write_pdf(str(out))
        else:
            out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise DataFileError(
            f"cannot write {what} {out.name}",
            [Problem(out.name, "a writable file", type(exc).__name__)],
        ) from None
    return out
