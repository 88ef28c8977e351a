"""Plots: pelvic obliquity over time with stance phases shaded, and per-stride overlays."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from glutemed.errors import InputValueError, Problem

if TYPE_CHECKING:
    from glutemed.motion._analysis import MotionResult

__all__ = ["plot_obliquity"]

_COLOURS = {"left": "#c0392b", "right": "#1f77b4"}


def plot_obliquity(result: MotionResult, path: str | Path) -> list[Path]:
    """Write the pelvic-obliquity figure as PNG and SVG.

    Top panel: obliquity over time (left side up positive) with each side's stance phases
    (walking), bouts (single-leg stance) or squat cycles shaded. Bottom panel: each phase's
    contralateral pelvic drop (stance side up positive) over 0-100 % of the phase, overlaid
    per side, with the reference drop and its uncertainty band when known.

    Parameters
    ----------
    result
        A :class:`~glutemed.motion.MotionResult`.
    path
        Output path. ``.png`` or ``.svg`` (the other format is written next to it with the same
        stem); without one of these suffixes both ``<path>.png`` and ``<path>.svg`` are written.

    Returns
    -------
    list of Path
        The files written (PNG first).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    if out.suffix.lower() in (".png", ".svg"):
        stem = out.with_suffix("")
    elif out.suffix:
        raise InputValueError(
            "invalid plot path",
            [Problem("plot", "a .png or .svg path (or a path without suffix)", out.name)],
        )
    else:
        stem = out
    stem.parent.mkdir(parents=True, exist_ok=True)

    fig, (ax_t, ax_p) = plt.subplots(2, 1, figsize=(8.0, 6.5), constrained_layout=True)
    t = result.time_s
    obl = result.obliquity_deg
    ax_t.plot(t, obl, color="black", lw=1.2, label="pelvic obliquity (left up +)")
    labelled: set[str] = set()
    for ph in result.phases:
        lab = None if ph.side in labelled else f"{ph.side} stance"
        labelled.add(ph.side)
        ax_t.axvspan(t[ph.start], t[min(ph.stop, t.size) - 1], color=_COLOURS[ph.side],
                     alpha=0.15, lw=0, label=lab)
    for ev in result.events:
        ax_t.axvline(ev.time_s, color=_COLOURS[ev.side], lw=0.6,
                     ls="-" if ev.kind == "foot_strike" else ":")
    ax_t.axhline(0.0, color="grey", lw=0.5)
    ax_t.set_xlabel("time (s)")
    ax_t.set_ylabel("obliquity (deg)")
    ax_t.set_title(f"{result.source} - {result.task.replace('_', ' ')}")
    ax_t.legend(loc="upper right", fontsize=8)

    pct = np.linspace(0.0, 100.0, 101)
    drawn = 0
    for ph in result.phases:
        seg = obl[ph.start : ph.stop]
        if seg.size < 2 or not np.isfinite(seg).any():
            continue
        drawn += 1
        drop = seg if ph.side == "left" else -seg
        x = np.linspace(0.0, 100.0, seg.size)
        ok = np.isfinite(drop)
        ax_p.plot(pct, np.interp(pct, x[ok], drop[ok]), color=_COLOURS[ph.side], lw=0.9,
                  alpha=0.8)
    for side in ("left", "right"):
        ax_p.plot([], [], color=_COLOURS[side], label=f"{side} stance")
    call = next(iter(result.trendelenburg.values()), None)
    if call is not None:
        ref, u = call.reference_deg, call.uncertainty_deg
        ax_p.axhline(ref, color="grey", ls="--", lw=0.8,
                     label=f"reference {ref:g} deg (software default, not validated)")
        ax_p.axhspan(ref - u, ref + u, color="grey", alpha=0.12,
                     label=f"+/- {u:.1f} deg uncertainty")
    if not drawn:
        ax_p.set_xlim(0.0, 100.0)
        ax_p.text(
            0.5,
            0.12,
            "no complete stance phase to show",
            transform=ax_p.transAxes,
            ha="center",
            va="center",
            color="dimgrey",
            bbox={"facecolor": "white", "edgecolor": "lightgrey", "boxstyle": "round"},
        )
    ax_p.set_xlabel("% of phase")
    ax_p.set_ylabel("contralateral drop (deg)")
    ax_p.legend(loc="upper right", fontsize=8)

    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=120)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths
