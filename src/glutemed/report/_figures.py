"""Stick-figure drawings of exercises, computed from joint angles (SVG).

Each exercise in ``exercises.yaml`` carries an :class:`~glutemed.knowledge.ExerciseFigure`:
the view (side or front), how the whole body is turned (upright or lying), the trunk lean and
the hip/knee and shoulder/elbow angles. This module turns those angles into one consistent,
clean line drawing: the same segment lengths, line weights and colours for every exercise, the
worked leg drawn darker, the floor and any prop (wall, step, band, belt) and an arrow or a
"hold" sign for the movement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

from glutemed.knowledge import DecisionAid, ExerciseFigure, KnowledgeBase

__all__ = [
    "FIGURE_HEIGHT_PX",
    "FIGURE_WIDTH_PX",
    "decision_aid_context",
    "decision_aid_for",
    "decision_aid_html",
    "exercise_svg",
    "icon_array_svg",
]

FIGURE_WIDTH_PX = 200
FIGURE_HEIGHT_PX = 150

# segment lengths (drawing units; the figure is scaled as a whole, never per exercise)
_TRUNK = 58.0
_NECK = 6.0
_HEAD_R = 9.0
_THIGH = 40.0
_SHANK = 38.0
_FOOT = 10.0
_UPPER_ARM = 26.0
_FOREARM = 22.0
_PELVIS_HALF = 9.0
_SHOULDER_HALF = 13.0
_SCALE = 0.78

_INK = "#1f2d3d"
_WORKED = "#0b6e99"
_FAR = "#9aa9b8"
_PROP = "#b8c4cf"
_ARROW = "#d9822b"

Point = tuple[float, float]


def _dir(angle_deg: float) -> Point:
    """Unit vector in the body frame: 0 deg = towards the feet, 90 deg = forward / outward."""
    a = math.radians(angle_deg)
    return (math.sin(a), math.cos(a))


@dataclass
class _Canvas:
    body_deg: float
    lines: list[tuple[Point, Point, str, float]]
    circles: list[tuple[Point, float, str]]

    def to_screen(self, p: Point) -> Point:
        """Rotate a body-frame point into screen coordinates (y down)."""
        b = math.radians(self.body_deg)
        x, y = p
        return (x * math.cos(b) + y * math.sin(b), -x * math.sin(b) + y * math.cos(b))

    def line(self, a: Point, b: Point, colour: str, width: float) -> None:
        self.lines.append((self.to_screen(a), self.to_screen(b), colour, width))


def _add(a: Point, b: Point, k: float = 1.0) -> Point:
    return (a[0] + k * b[0], a[1] + k * b[1])


def _leg(
    c: _Canvas,
    hip: Point,
    proximal: float,
    distal: float,
    side: float,
    view: str,
    colour: str,
    tiptoe: bool = False,
) -> Point:
    """Draw a leg; return the foot point (body frame)."""
    if view == "side":
        knee = _add(hip, _dir(proximal), _THIGH)
        shank_angle = proximal - distal
        ankle = _add(knee, _dir(shank_angle), _SHANK)
        toe = _add(ankle, _dir(shank_angle + (40.0 if tiptoe else 90.0)), _FOOT)
    else:
        angle = side * proximal
        knee = _add(hip, _dir(angle), _THIGH)
        ankle = _add(knee, _dir(angle), _SHANK * math.cos(math.radians(distal * 0.5)))
        toe = _add(ankle, (side, 0.0), _FOOT * 0.6)
    c.line(hip, knee, colour, 5.0)
    c.line(knee, ankle, colour, 5.0)
    c.line(ankle, toe, colour, 4.0)
    return ankle


def _arm(
    c: _Canvas, shoulder: Point, proximal: float, distal: float, side: float, view: str, colour: str
) -> None:
    if view == "side":
        elbow = _add(shoulder, _dir(proximal), _UPPER_ARM)
        hand = _add(elbow, _dir(proximal + distal), _FOREARM)
    else:
        elbow = _add(shoulder, _dir(side * proximal), _UPPER_ARM)
        hand = _add(elbow, _dir(side * (proximal + distal)), _FOREARM)
    c.line(shoulder, elbow, colour, 4.0)
    c.line(elbow, hand, colour, 4.0)


def _geometry(fig: ExerciseFigure) -> tuple[_Canvas, dict[str, Point]]:
    c = _Canvas(fig.body_deg, [], [])
    pelvis = (0.0, 0.0)
    trunk_dir = (math.sin(math.radians(fig.trunk_deg)), -math.cos(math.radians(fig.trunk_deg)))
    shoulders = _add(pelvis, trunk_dir, _TRUNK)
    if fig.pelvis_lift:
        # bridges: shoulders stay down, the pelvis rises forward (towards the ceiling when supine)
        pelvis = _add(pelvis, (1.0, 0.0), fig.pelvis_lift * _THIGH)
    head = _add(shoulders, trunk_dir, _NECK + _HEAD_R)
    points: dict[str, Point] = {"pelvis": pelvis, "shoulders": shoulders, "head": head}
    if fig.view == "front":
        near_hip, far_hip = (pelvis[0] + _PELVIS_HALF, pelvis[1]), (pelvis[0] - _PELVIS_HALF, 0.0)
        near_sh = (shoulders[0] + _SHOULDER_HALF, shoulders[1])
        far_sh = (shoulders[0] - _SHOULDER_HALF, shoulders[1])
        c.line(far_hip, near_hip, _INK, 5.0)
        c.line(far_sh, near_sh, _INK, 5.0)
        c.line(pelvis, shoulders, _INK, 5.0)
        points["far_foot"] = _leg(
            c, far_hip, fig.far_leg.proximal_deg, fig.far_leg.distal_deg, -1.0, "front", _INK
        )
        points["near_foot"] = _leg(
            c, near_hip, fig.near_leg.proximal_deg, fig.near_leg.distal_deg, 1.0, "front", _WORKED
        )
        points["near_knee"] = _add(near_hip, _dir(fig.near_leg.proximal_deg), _THIGH)
        points["far_knee"] = _add(far_hip, _dir(-fig.far_leg.proximal_deg), _THIGH)
        for side, sh in ((1.0, near_sh), (-1.0, far_sh)):
            _arm(c, sh, fig.arm.proximal_deg, fig.arm.distal_deg, side, "front", _INK)
    else:
        points["far_foot"] = _leg(
            c,
            pelvis,
            fig.far_leg.proximal_deg,
            fig.far_leg.distal_deg,
            1.0,
            "side",
            _FAR,
            fig.tiptoe,
        )
        _arm(c, shoulders, fig.arm.proximal_deg, fig.arm.distal_deg, 1.0, "side", _FAR)
        c.line(pelvis, shoulders, _INK, 5.0)
        points["near_foot"] = _leg(
            c,
            pelvis,
            fig.near_leg.proximal_deg,
            fig.near_leg.distal_deg,
            1.0,
            "side",
            _WORKED,
            fig.tiptoe,
        )
        points["near_knee"] = _add(pelvis, _dir(fig.near_leg.proximal_deg), _THIGH)
        points["far_knee"] = _add(pelvis, _dir(fig.far_leg.proximal_deg), _THIGH)
        _arm(c, shoulders, fig.arm.proximal_deg, fig.arm.distal_deg, 1.0, "side", _INK)
    c.circles.append((c.to_screen(head), _HEAD_R, _INK))
    return c, {k: c.to_screen(v) for k, v in points.items()}


def _arrow(kind: str, at: Point) -> str:
    x, y = at
    if kind == "hold":
        return (
            f'<g stroke="{_ARROW}" stroke-width="3" fill="none" stroke-linecap="round">'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9"/>'
            f'<line x1="{x - 3:.1f}" y1="{y - 4:.1f}" x2="{x - 3:.1f}" y2="{y + 4:.1f}"/>'
            f'<line x1="{x + 3:.1f}" y1="{y - 4:.1f}" x2="{x + 3:.1f}" y2="{y + 4:.1f}"/></g>'
        )
    dx, dy = {
        "up": (0, -1),
        "down": (0, 1),
        "left": (-1, 0),
        "right": (1, 0),
        "out": (1, 0),
    }[kind]
    x2, y2 = x + 18 * dx, y + 18 * dy
    # arrow head
    hx, hy = -dx * 6, -dy * 6
    px, py = -dy * 5, dx * 5
    return (
        f'<g stroke="{_ARROW}" stroke-width="3" fill="none" stroke-linecap="round">'
        f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'
        f'<polyline points="{x2 + hx + px:.1f},{y2 + hy + py:.1f} {x2:.1f},{y2:.1f} '
        f'{x2 + hx - px:.1f},{y2 + hy - py:.1f}"/></g>'
    )


def exercise_svg(fig: ExerciseFigure, *, title: str = "") -> str:
    """Return an SVG drawing of an exercise figure.

    Parameters
    ----------
    fig
        The figure's joint angles (from ``exercises.yaml``).
    title
        An accessible title (the exercise's plain name).

    Returns
    -------
    str
        A self-contained ``<svg>`` element, ``FIGURE_WIDTH_PX`` x ``FIGURE_HEIGHT_PX``.
    """
    canvas, pts = _geometry(fig)
    xs = [p[0] for a, b, _, _ in canvas.lines for p in (a, b)]
    ys = [p[1] for a, b, _, _ in canvas.lines for p in (a, b)]
    for (cx, cy), r, _ in canvas.circles:
        xs += [cx - r, cx + r]
        ys += [cy - r, cy + r]
    floor_y = max(ys)
    if "step" in fig.props:
        floor_y = pts["near_foot"][1] + 16.0
    min_x, max_x, min_y = min(xs), max(xs), min(ys)
    # centre the figure; the floor sits 14 px above the bottom edge
    ox = FIGURE_WIDTH_PX / 2 - _SCALE * (min_x + max_x) / 2
    oy = FIGURE_HEIGHT_PX - 14 - _SCALE * floor_y
    if oy + _SCALE * min_y < 6:  # too tall: anchor the top instead
        oy = 6 - _SCALE * min_y

    def t(p: Point) -> Point:
        return (ox + _SCALE * p[0], oy + _SCALE * p[1])

    parts: list[str] = []
    fy = t((0.0, floor_y))[1]
    if fig.support == "floor":
        parts.append(
            f'<line x1="8" y1="{fy + 3:.1f}" x2="{FIGURE_WIDTH_PX - 8}" y2="{fy + 3:.1f}" '
            f'stroke="{_PROP}" stroke-width="3" stroke-linecap="round"/>'
        )
    if "wall" in fig.props:
        wx = t((max_x + 4.0 if fig.view == "front" else min_x - 4.0, 0.0))[0]
        parts.append(
            f'<line x1="{wx:.1f}" y1="8" x2="{wx:.1f}" y2="{fy + 3:.1f}" '
            f'stroke="{_PROP}" stroke-width="4" stroke-linecap="round"/>'
        )
    if "step" in fig.props:
        sx, sy = t(pts["near_foot"])
        parts.append(
            f'<rect x="{sx - 8:.1f}" y="{sy + 4:.1f}" width="40" height="{fy - sy - 1:.1f}" '
            f'rx="2" fill="none" stroke="{_PROP}" stroke-width="3"/>'
        )
    for a, b, colour, width in canvas.lines:
        (x1, y1), (x2, y2) = t(a), t(b)
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
            f'stroke-width="{width:.1f}" stroke-linecap="round"/>'
        )
    for centre, r, colour in canvas.circles:
        cx, cy = t(centre)
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r * _SCALE:.1f}" fill="#ffffff" '
            f'stroke="{colour}" stroke-width="3.5"/>'
        )
    if "band_knees" in fig.props or "belt" in fig.props:
        (x1, y1), (x2, y2) = t(pts["near_knee"]), t(pts["far_knee"])
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{_ARROW}" '
            f'stroke-width="3" stroke-dasharray="4 3"/>'
        )
    if fig.arrow != "none":
        left, top = t((min_x, min_y))
        right = t((max_x, 0.0))[0]
        px, py = t(pts["pelvis"])
        fx, fy_foot = t(pts["near_foot"])
        if fig.arrow == "hold":
            at = (max(left - 16, 14), max(top + 4, 14))
        elif fig.arrow in ("right", "out"):
            at = (min(max(fx, right) + 6, FIGURE_WIDTH_PX - 24), fy_foot - 14)
        elif fig.arrow == "left":
            at = (max(left - 6, 24), fy_foot - 14)
        elif fig.arrow == "up":
            at = (px + 22, py - 4)
        else:
            at = (min(right + 12, FIGURE_WIDTH_PX - 14), py - 18)
        parts.append(_arrow(fig.arrow, at))
    label = f"<title>{escape(title)}</title>" if title else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {FIGURE_WIDTH_PX} '
        f'{FIGURE_HEIGHT_PX}" width="{FIGURE_WIDTH_PX}" height="{FIGURE_HEIGHT_PX}" role="img">'
        f"{label}{''.join(parts)}</svg>"
    )


def icon_array_svg(events: int, total: int, *, colour: str = _WORKED, title: str = "") -> str:
    """Return a 10 x 10 icon array: of 100 people, how many had the outcome.

    The count per 100 is ``round(100 * events / total)``; filled people had the outcome, the
    others are drawn as outlines.
    """
    if total <= 0 or not 0 <= events <= total:
        raise ValueError(f"expected 0 <= events <= total and total > 0, got {events}/{total}")
    per_100 = round(100 * events / total)
    cell = 13
    parts: list[str] = []
    for i in range(100):
        row, col = divmod(i, 10)
        x, y = 4 + col * cell, 4 + row * cell
        filled = i < per_100
        fill = colour if filled else "#ffffff"
        stroke = colour if filled else "#b8c4cf"
        parts.append(
            f'<g fill="{fill}" stroke="{stroke}" stroke-width="1">'
            f'<circle cx="{x + 5:.1f}" cy="{y + 2.6:.1f}" r="2.4"/>'
            f'<path d="M{x + 1.2:.1f},{y + 11:.1f} Q{x + 5:.1f},{y + 3.6:.1f} '
            f'{x + 8.8:.1f},{y + 11:.1f} Z"/></g>'
        )
    size = 8 + 10 * cell
    label = f"<title>{escape(title)}</title>" if title else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" '
        f'height="{size}" role="img">{label}{"".join(parts)}</svg>'
    )


_ARM_COLOURS = (_WORKED, "#6b7f94", _FAR)


def decision_aid_for(kb: KnowledgeBase, treatment_ids: Iterable[str]) -> DecisionAid | None:
    """The decision aid of the first trial programme that delivers one of the treatments."""
    wanted = set(treatment_ids)
    for p in kb.programmes.values():
        if p.decision is not None and p.kind == "trial_programme" and p.treatment in wanted:
            return p.decision
    return None


def decision_aid_html(decision: DecisionAid) -> str:
    """The decision aid as an HTML fragment (the same fragment the handouts include)."""
    from glutemed.report._handout import _env

    template = _env().get_template("_decision.html.j2")
    return template.render(decision=decision_aid_context(decision))


def decision_aid_context(decision: DecisionAid) -> dict[str, Any]:
    """Return the words and icon arrays of a decision aid (for the report templates)."""
    arms = []
    for i, o in enumerate(decision.outcomes):
        per_100 = round(100 * o.events / o.total)
        svg = icon_array_svg(
            o.events,
            o.total,
            colour=_ARM_COLOURS[i % len(_ARM_COLOURS)],
            title=f"{o.arm}: {per_100} of 100",
        )
        arms.append(
            {
                "arm": o.arm,
                "per_100": per_100,
                "events": o.events,
                "total": o.total,
                "svg": Markup(svg),
            }
        )
    return {
        "measure": decision.measure,
        "time_point": decision.time_point,
        "arms": arms,
        "harms": list(decision.harms),
        "not_known": list(decision.not_known),
    }
