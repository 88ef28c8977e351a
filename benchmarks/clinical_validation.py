"""Clinical validation of the diagnosis engine on real published cases.

Runs every case file of ``benchmarks/published_cases/`` (real published case reports translated
into case files; see the README there) through :func:`glutemed.reasoning.assess` and prints:

* top-1 and top-3 accuracy of the ranked differential (the tendon variable counts as a hit only
  when its most probable state is an accepted answer; in the top 3, when one of its two most
  probable states is);
* the same top-1 with the tendon states pooled (the gluteal tendon variable ranked first when the
  final diagnosis is one of its states, whatever the grade): a secondary figure that separates a
  wrong grade (partial for full-thickness, which clinical tests cannot tell apart reliably) from a
  wrong condition; it is not the target;
* top-1 by group of final diagnosis (gluteal tendon, other mimics, must-not-miss);
* must-not-miss cases caught: the accepted must-not-miss condition above its test threshold or
  in the top 3;
* the alert burden: cases whose final diagnosis is not must-not-miss but which get a
  must-not-miss alert (some condition above its test threshold), and the number of such alerts:
  the cost side of "no must-not-miss case missed";
* wrong "no imaging needed" advice (given although the final diagnosis is not gluteal
  tendinopathy without tear / bursitis);
* the Brier score and a calibration table over every (case, condition) pair, where the accepted
  answer is the truth (real patients can have more than one condition, so this penalises true
  coexisting conditions too);
* nested coherence on every case: P(full tear) <= P(any tear) <= P(tendinopathy or worse) <=
  P(GTPS).

Usage::

    python benchmarks/clinical_validation.py [--cases DIR] [--json-only] [--details]
        [--complete-pain-maps]

``--complete-pain-maps`` is a sensitivity analysis, not the validation: every case that names a
pain site (and does not call its pain only "hip pain") is run as if its pain map were complete
(``pain_map_complete``), so that the sites it does not name count as absent. The sources rarely
say that the sites they name are all the patient's pain sites, so the case files do not record it;
the option shows what the engine does with the body chart a clinician fills in.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from glutemed.knowledge import load_kb
from glutemed.reasoning import assess, case_from_dict, network_for

HERE = Path(__file__).parent
NO_IMAGING_OK = {"trochanteric_bursitis", "gluteal_tendinopathy_without_tear"}
BINS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0001]


def load_cases(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(folder.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8"))
        doc["_file"] = path.stem
        out.append(doc)
    return out


def _hit(
    entry: dict[str, Any], depth: int, accept: set[str], states: list[tuple[str, float]]
) -> bool:
    """The tendon entry hits when one of its ``depth`` likeliest states is accepted."""
    if entry["variable"] == "gluteal_tendon":
        return any(s in accept for s, _ in states[:depth])
    return bool(entry["id"] in accept)


def _with_complete_pain_map(case: dict[str, Any], sites: tuple[str, ...]) -> dict[str, Any]:
    """The case as if its pain map were complete, when it names a pain site."""
    findings = dict(case.get("findings") or {})
    named = any(findings.get(s) == "positive" for s in sites)
    if not named or findings.get("hip_pain_site_unspecified") == "positive":
        return case
    return {**case, "findings": {**findings, "pain_map_complete": "positive"}}


def score(folder: Path, details: bool, complete_pain_maps: bool = False) -> dict[str, Any]:
    kb = load_kb()
    net = network_for(kb)
    sites = net.expands["pain_map_complete"]
    tendon_states = set(net.states[1:])
    docs = load_cases(folder)
    rows: list[dict[str, Any]] = []
    pairs: list[tuple[float, int]] = []
    skipped = []
    for doc in docs:
        accept = set(doc["truth"].get("accept") or [])
        if not accept:
            skipped.append(doc["_file"])
            continue
        raw = _with_complete_pain_map(doc["case"], sites) if complete_pain_maps else doc["case"]
        case = case_from_dict(raw, where=doc["_file"])
        res = assess(case, kb)
        diff = res.differential
        states = sorted(
            ((c.id, c.probability or 0.0) for c in res.conditions if c.id in tendon_states),
            key=lambda x: -x[1],
        )

        top1 = _hit(diff[0], 1, accept, states)
        top3 = any(_hit(e, 2, accept, states) for e in diff[:3])
        tendon_truth = bool(accept & tendon_states)
        top1_pooled = top1 or (tendon_truth and diff[0]["variable"] == "gluteal_tendon")
        mnm_truth = bool(doc["truth"].get("must_not_miss"))
        mnm_caught = None
        if mnm_truth:
            above = {m["id"] for m in res.must_not_miss if m["above_threshold"]}
            top3_ids = {e["id"] for e in diff[:3]}
            mnm_caught = bool(accept & (above | top3_ids))
        alerts = sorted(
            m["id"] for m in res.must_not_miss if m["above_threshold"] and m["id"] not in accept
        )
        no_imaging = res.imaging["recommendation"].startswith("no imaging needed")
        wrong_no_imaging = no_imaging and not (accept & NO_IMAGING_OK)
        probs = {c.id: c.probability or 0.0 for c in res.conditions}
        coherent = (
            probs["gluteal_tendon_full_thickness_tear"]
            <= probs["gluteal_tendon_tear"] + 1e-9
            <= probs["gluteal_tendinopathy"] + 2e-9
            <= probs["gtps"] + 3e-9
        )
        # Brier pairs: the tendon variable (P of the accepted states) and every yes/no condition
        p_tendon = sum(p for s, p in states if s in accept)
        pairs.append((p_tendon, int(bool(accept & tendon_states))))
        for cid in net.binaries:
            pairs.append((probs[cid], int(cid in accept)))
        leading = diff[0]["id"]
        rows.append(
            {
                "case": doc["_file"],
                "truth": sorted(accept),
                "leading": leading,
                "leading_p": diff[0]["probability"],
                "top3": [e["id"] for e in diff[:3]],
                "top1": top1,
                "top1_pooled": top1_pooled,
                "group": "must_not_miss"
                if mnm_truth
                else ("gluteal_tendon" if tendon_truth else "mimic"),
                "in_top3": top3,
                "must_not_miss": mnm_truth,
                "mnm_caught": mnm_caught,
                "alerts": alerts,
                "wrong_no_imaging": wrong_no_imaging,
                "coherent": coherent,
            }
        )
    n = len(rows)
    brier = sum((p - y) ** 2 for p, y in pairs) / len(pairs) if pairs else float("nan")
    calib = []
    for lo, hi in itertools.pairwise(BINS):
        sel = [(p, y) for p, y in pairs if lo <= p < hi]
        if sel:
            calib.append(
                {
                    "bin": f"{lo:.2f}-{min(hi, 1.0):.2f}",
                    "n": len(sel),
                    "mean_predicted": round(sum(p for p, _ in sel) / len(sel), 4),
                    "observed": round(sum(y for _, y in sel) / len(sel), 4),
                }
            )
    mnm_rows = [r for r in rows if r["must_not_miss"]]
    non_mnm = [r for r in rows if not r["must_not_miss"]]
    result = {
        "cases": n,
        "skipped": skipped,
        "top1": sum(r["top1"] for r in rows),
        "top1_rate": round(sum(r["top1"] for r in rows) / n, 4) if n else None,
        "top3": sum(r["in_top3"] for r in rows),
        "top3_rate": round(sum(r["in_top3"] for r in rows) / n, 4) if n else None,
        "top1_non_must_not_miss": f"{sum(r['top1'] for r in non_mnm)}/{len(non_mnm)}",
        "top1_tendon_states_pooled": sum(r["top1_pooled"] for r in rows),
        "top1_by_group": {
            g: f"{sum(r['top1'] for r in rows if r['group'] == g)}/"
            f"{sum(1 for r in rows if r['group'] == g)}"
            for g in ("gluteal_tendon", "mimic", "must_not_miss")
        },
        "must_not_miss_cases": len(mnm_rows),
        "must_not_miss_caught": sum(bool(r["mnm_caught"]) for r in mnm_rows),
        "must_not_miss_missed": [r["case"] for r in mnm_rows if not r["mnm_caught"]],
        "non_must_not_miss_alerted": f"{sum(bool(r['alerts']) for r in non_mnm)}/{len(non_mnm)}",
        "non_must_not_miss_alerts": sum(len(r["alerts"]) for r in non_mnm),
        "wrong_no_imaging": sum(r["wrong_no_imaging"] for r in rows),
        "brier": round(brier, 4),
        "calibration": calib,
        "coherent_cases": sum(r["coherent"] for r in rows),
        "versions": kb.versions(),
    }
    if details:
        result["rows"] = rows
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=Path, default=HERE / "published_cases")
    ap.add_argument("--json-only", action="store_true")
    ap.add_argument("--details", action="store_true", help="print one line per case")
    ap.add_argument(
        "--complete-pain-maps",
        action="store_true",
        help="sensitivity analysis: cases that name a pain site as if their pain map were complete",
    )
    args = ap.parse_args(argv)
    res = score(args.cases, details=True, complete_pain_maps=args.complete_pain_maps)
    res["complete_pain_maps"] = args.complete_pain_maps
    if not args.json_only:
        n = res["cases"]
        print(f"Clinical validation on {n} published cases ({len(res['skipped'])} not scorable)")
        if args.complete_pain_maps:
            print(
                "SENSITIVITY ANALYSIS: the cases that name a pain site are run as if their pain"
                " map were complete (the sources do not say so)"
            )
        print(f"{'measure':<44}{'value':>14}{'target':>12}")
        print(
            f"{'top-1 accuracy':<44}{res['top1']:>6}/{n:<4} {res['top1_rate']:>6.0%}{'>= 80 %':>10}"
        )
        print(
            f"{'top-3 accuracy':<44}{res['top3']:>6}/{n:<4} {res['top3_rate']:>6.0%}{'>= 95 %':>10}"
        )
        pooled = res["top1_tendon_states_pooled"]
        label = "  top-1, tendon states pooled (secondary)"
        print(f"{label:<44}{pooled:>6}/{n:<4} {pooled / n if n else 0:>6.0%}")
        for g, v in res["top1_by_group"].items():
            print(f"{'  top-1, final diagnosis ' + g.replace('_', ' '):<44}{v:>11}")
        m = res["must_not_miss_cases"]
        label = "must-not-miss caught (threshold or top 3)"
        print(f"{label:<44}{res['must_not_miss_caught']:>6}/{m:<7}{'all':>10}")
        label = "  alert burden: other cases with an alert"
        print(
            f"{label:<44}{res['non_must_not_miss_alerted']:>14}"
            f"   ({res['non_must_not_miss_alerts']} alerts)"
        )
        print(f"{'wrong no-imaging advice':<44}{res['wrong_no_imaging']:>14}{'0':>12}")
        print(f"{'nested coherence':<44}{res['coherent_cases']:>6}/{n:<7}{'all':>10}")
        print(f"{'Brier score (case x condition)':<44}{res['brier']:>14.4f}")
        print("calibration: bin  n  mean predicted  observed")
        for c in res["calibration"]:
            print(f"  {c['bin']:<10}{c['n']:>6}{c['mean_predicted']:>10.3f}{c['observed']:>10.3f}")
        if res["must_not_miss_missed"]:
            print("must-not-miss missed:", ", ".join(res["must_not_miss_missed"]))
        if args.details:
            for r in res["rows"]:
                mark = "ok " if r["top1"] else ("top3" if r["in_top3"] else "MISS")
                print(
                    f"  {mark:<5}{r['case'][:52]:<53} truth={','.join(r['truth'])[:40]:<41} "
                    f"lead={r['leading']} {r['leading_p']:.2f}"
                )
    rows = res.pop("rows")
    del rows
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
