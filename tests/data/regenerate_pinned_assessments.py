"""Regenerate the pinned assessments of the bundled example cases.

    python tests/data/regenerate_pinned_assessments.py

Run this only for a deliberate clinical change, and record the change and its size in
CHANGELOG.md under "Clinical changes". tests/reasoning/test_pinned.py compares against these files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glutemed.knowledge import load_kb
from glutemed.reasoning import assess, load_case

HERE = Path(__file__).resolve().parent
CASES = HERE.parents[1] / "src" / "glutemed" / "examples" / "cases"


def pinned(result: dict[str, Any]) -> dict[str, Any]:
    """The clinically meaningful part of an assessment that the tests pin."""
    return {
        "conditions": {
            c["id"]: {
                "probability": c["probability"],
                "interval": c["interval"],
                "prior": c["prior"],
            }
            for c in result["conditions"]
        },
        "differential": [e["id"] for e in result["differential"][:5]],
        "must_not_miss_above_threshold": [
            m["id"] for m in result["must_not_miss"] if m["above_threshold"]
        ],
        "red_flags": [f["id"] for f in result["red_flags"]],
        "referral": result["referral"]["to"],
        "next_tests": [t["id"] for t in result["next_tests"]],
        "imaging": {
            "modality": result["imaging"]["modality"],
            "urgency": result["imaging"]["urgency"],
        },
        "severity": result["severity"]["grade"],
        "kb": result["versions"]["kb"],
    }


def main() -> None:
    kb = load_kb()
    out = HERE / "assessments"
    out.mkdir(exist_ok=True)
    for path in sorted(CASES.glob("*.yaml")):
        data = pinned(assess(load_case(path), kb).to_dict())
        (out / f"{path.stem}.json").write_text(
            json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8"
        )


if __name__ == "__main__":
    main()
