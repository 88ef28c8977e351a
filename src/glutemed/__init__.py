"""glutemed: evidence-based decision support for lateral hip pain.

Gluteal tendinopathy, gluteus medius/minimus tears and greater trochanteric pain syndrome, with
their mimics. glutemed supports a clinician's judgement; it is not a medical device and does not
diagnose on its own.
"""

from __future__ import annotations

import json
from importlib import resources

__all__ = ["__kb_version__", "__version__"]

__version__ = "0.1.0"


def _read_kb_version() -> str:
    manifest = resources.files("glutemed.knowledge") / "data" / "MANIFEST.json"
    try:
        return str(json.loads(manifest.read_text("utf-8"))["kb_version"])
    except (OSError, ValueError, KeyError):  # pragma: no cover - broken install
        return "unknown"


__kb_version__ = _read_kb_version()
