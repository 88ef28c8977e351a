"""Server-side SVG charts of outcome scores over time (no JavaScript, prints well).

The shaded band is *baseline ± MCID*: a later score inside it has not changed by a clinically
important amount; above or below it (on the better side) the change reaches the published MCID.
The MCID is the one :func:`glutemed.questionnaires.classify_trajectory` selects from the
knowledge base, or, without that package, the first absolute MCID not marked unverified. A PASS
threshold, when published, is drawn as a dashed line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from typing import Any

from glutemed.knowledge import Instrument

__all__ = ["chart_mcid", "outcome_chart_svg"]

_W, _H = 640, 300
_L, _R, _T, _B = 56, 20, 28, 48


def chart_mcid(
    instrument: Instrument, trajectory: dict[str, Any] | None
) -> tuple[float | None, str]:
    """Return the MCID to draw and where it comes from."""
    if trajectory and trajectory.get("mcid") is not None:
        return float(trajectory["mcid"]), str(trajectory.get("threshold_source", ""))
    for t in instrument.thresholds:
        if t.kind == "mcid" and not t.relative and "unverified" not in t.marks:
            return t.value, t.context
    return None, "no published MCID"


def _pass_value(instrument: Instrument) -> tuple[float | None, str]:
    for t in instrument.thresholds:
        if t.kind == "pass" and not t.relative and "unverified" not in t.marks:
            return t.value, t.context
    return None, ""


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def outcome_chart_svg(
    instrument: Instrument,
    points: Sequence[tuple[dt.date, float]],
    *,
    trajectory: dict[str, Any] | None = None,
) -> str:
    """Return an SVG line chart of one instrument's scores with the MCID band.

    Parameters
    ----------
    instrument
        The knowledge-base instrument (range, direction, thresholds).
    points
        ``(date, total)`` pairs (any order).
    trajectory
        ``Trajectory`` dict from :func:`glutemed.questionnaires.classify_trajectory`, if any.
    """
    pts = sorted(points)
    lo, hi = instrument.range
    pw, ph = _W - _L - _R, _H - _T - _B

    def y(v: float) -> float:
        return _T + ph * (1 - (v - lo) / (hi - lo))

    if pts:
        d0, d1 = pts[0][0], pts[-1][0]
        span = max((d1 - d0).days, 1)
    else:
        d0, span = dt.date.today(), 1

    def x(d: dt.date) -> float:
        if len(pts) == 1:
            return _L + pw / 2
        return _L + pw * ((d - d0).days / span)

    title = f"{instrument.name} over time"
    better = "higher is better" if instrument.higher_is_better else "lower is better"
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" '
        f'class="chart" aria-labelledby="t-{instrument.id}">',
        f'<title id="t-{instrument.id}">{escape(title)} ({better})</title>',
        f'<rect x="{_L}" y="{_T}" width="{pw}" height="{ph}" fill="#fff" stroke="#bbb"/>',
    ]
    mcid, mcid_src = chart_mcid(instrument, trajectory)
    if mcid is not None and pts:
        base = pts[0][1]
        top, bottom = min(hi, base + mcid), max(lo, base - mcid)
        parts.append(
            f'<rect class="mcid-band" x="{_L}" y="{y(top):.1f}" width="{pw}" '
            f'height="{y(bottom) - y(top):.1f}" fill="#f2d98c" fill-opacity="0.45">'
            f"<title>baseline ± MCID {_fmt(mcid)} ({escape(mcid_src)})</title></rect>"
        )
    pass_v, pass_src = _pass_value(instrument)
    if pass_v is not None and lo <= pass_v <= hi:
        parts.append(
            f'<line x1="{_L}" x2="{_L + pw}" y1="{y(pass_v):.1f}" y2="{y(pass_v):.1f}" '
            f'stroke="#2e7d32" stroke-dasharray="6 4"><title>PASS {_fmt(pass_v)} '
            f"({escape(pass_src)})</title></line>"
            f'<text x="{_L + pw - 4}" y="{y(pass_v) - 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#2e7d32">PASS {_fmt(pass_v)}</text>'
        )
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        parts.append(
            f'<line x1="{_L - 4}" x2="{_L}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#666"/>'
            f'<text x="{_L - 8}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#333">{_fmt(v)}</text>'
        )
    if pts:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for i, (d, v) in enumerate(pts)
        )
        parts.append(f'<path d="{path}" fill="none" stroke="#1f4e79" stroke-width="2.5"/>')
        for d, v in pts:
            parts.append(
                f'<circle class="point" cx="{x(d):.1f}" cy="{y(v):.1f}" r="5" fill="#1f4e79">'
                f"<title>{d.isoformat()}: {_fmt(v)}</title></circle>"
            )
        # every date is labelled; with many points every k-th, always the first and the last
        step = max(1, -(-len(pts) // 6))
        labelled = [i for i in range(len(pts)) if i % step == 0 or i == len(pts) - 1]
        if len(labelled) > 2 and labelled[-1] - labelled[-2] < step:
            labelled.pop(-2)
        ends = [
            (
                pts[i][0],
                "middle"
                if len(pts) == 1 or 0 < i < len(pts) - 1
                else ("start" if i == 0 else "end"),
            )
            for i in labelled
        ]
        for d, anchor in ends:
            parts.append(
                f'<text x="{x(d):.1f}" y="{_T + ph + 18}" text-anchor="{anchor}" font-size="11" '
                f'fill="#333">{d.isoformat()}</text>'
            )
    else:
        parts.append(
            f'<text x="{_L + pw / 2}" y="{_T + ph / 2}" text-anchor="middle" font-size="13" '
            f'fill="#666">no scores recorded yet</text>'
        )
    legend = (
        f"shaded: baseline ± MCID {_fmt(mcid)}"
        if mcid is not None
        else "no published MCID: no band"
    )
    parts.append(
        f'<text x="{_L}" y="{_H - 10}" font-size="11" fill="#555">{escape(legend)}; '
        f"{escape(better)}</text>"
    )
    parts.append(
        f'<text x="{_L}" y="{_T - 10}" font-size="13" font-weight="bold" fill="#222">'
        f"{escape(instrument.name)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
