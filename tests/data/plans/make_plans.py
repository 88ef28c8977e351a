"""Regenerate the pinned care plans in this folder (stored-result tests of glutemed.pathway).

Run from the project root::

    .venv/bin/python tests/data/plans/make_plans.py          # rewrite every <name>.json
    .venv/bin/python tests/data/plans/make_plans.py --check  # exit 1 if any differs

Each file is ``CarePlan.decision_summary()`` (stage, rules, recommendation ids and roles,
exclusions, review weeks, escalation criteria, outcome verdicts) for one case, made with the plan
date :data:`TODAY` so that weeks and injections in the past year are counted the same way every
time. Evidence text, citations and version stamps are not pinned. A change to a pinned plan is a
clinical change: note it in CHANGELOG.md under "Clinical changes".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CASES = HERE.parent / "cases"
EXAMPLES = ROOT / "src" / "glutemed" / "examples" / "cases"

#: Plan date of every pinned plan.
TODAY = dt.date(2026, 11, 23)

#: Extra pinned variants: name -> (case file stem, keyword arguments of plan()).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "tendinopathy__show_orthobiologics": ("tendinopathy", {"show_orthobiologics": True}),
}


def case_paths() -> dict[str, Path]:
    """Return pinned name -> case file (bundled examples and the pathway edge cases)."""
    paths = {p.stem: p for p in sorted(EXAMPLES.glob("*.yaml"))}
    paths.update({p.stem: p for p in sorted(CASES.glob("plan_*.yaml"))})
    return paths


def make(name: str) -> dict[str, Any]:
    """Return the decision summary pinned under ``name``."""
    from glutemed.knowledge import load_kb
    from glutemed.pathway import plan
    from glutemed.reasoning import load_case

    kb = load_kb(check_manifest=False)
    stem, kwargs = VARIANTS.get(name, (name, {}))
    case = load_case(case_paths()[stem])
    return plan(case, kb=kb, today=TODAY, **kwargs).decision_summary()


def names() -> list[str]:
    """Return every pinned name."""
    return sorted([*case_paths(), *VARIANTS])


def dump(data: dict[str, Any]) -> str:
    """Serialise a summary the way the pinned files store it."""
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    changed = []
    for name in names():
        path = HERE / f"{name}.json"
        text = dump(make(name))
        old = path.read_text("utf-8") if path.exists() else None
        if old != text:
            changed.append(name)
            if not args.check:
                path.write_text(text, "utf-8")
    verb = "differ" if args.check else "rewritten"
    print(f"{len(changed)} of {len(names())} pinned plans {verb}: {', '.join(changed) or '-'}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
