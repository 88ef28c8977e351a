"""Interpretation: Trendelenburg calls with measurement uncertainty, and change between visits.

The decision rule (never a bare cut-off)
----------------------------------------
For one side, with the mean contralateral pelvic drop ``m`` over ``n`` strides (bouts, squat
cycles) and its between-stride SD ``s``:

``u = max(u_measurement, t(0.975, n - 1) * s / sqrt(n))``

where ``u_measurement`` is the published test-retest band of the measure: the smallest
detectable difference of 2D contralateral pelvic drop (2.7-2.8 deg, Dingenen et al. 2018; the
upper bound is used) for walking and single-leg squats, and the minimal detectable change of
the Trendelenburg test (4 deg, J Sport Rehabil 2007) for single-leg stance. The second term is
the 95 % confidence half-width of the mean over strides (only when ``n >= 2``). With the
reference drop ``r`` (5 deg, PhysioMoCap's default - not a validated cut-off):

* positive      if ``m - u > r``  (the drop exceeds the reference even at the low end);
* negative      if ``m + u < r``  (the drop stays below the reference even at the high end);
* indeterminate otherwise, and always when the data fail a quality gate (fewer strides than
  the minimum for walking, camera not frontal, image-normalised coordinates of unknown aspect).

Between visits, a change in a side's mean drop counts only when its size exceeds the minimal
detectable change (4 deg).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from scipy.special import stdtrit

from glutemed._checks import check_option
from glutemed.errors import InputValueError, Problem
from glutemed.knowledge import KnowledgeBase
from glutemed.motion._settings import TASKS, MotionSettings, settings_from_kb

__all__ = ["TrendelenburgCall", "classify_trendelenburg", "compare_visits"]

Call = Literal["positive", "negative", "indeterminate"]


@dataclass(frozen=True)
class TrendelenburgCall:
    """The Trendelenburg interpretation of one side.

    Parameters
    ----------
    call
        ``"positive"``, ``"negative"`` or ``"indeterminate"``.
    mean_drop_deg, sd_deg, n
        The contralateral pelvic drop summary it is based on.
    uncertainty_deg
        ``u`` of the decision rule (module docstring).
    uncertainty_basis
        Which term set ``u``: ``"sdd"``, ``"mdc"`` or ``"between_stride_ci"``.
    reference_deg
        The reference drop (5 deg software default).
    reason
        One sentence a clinician can read.
    """

    call: Call
    mean_drop_deg: float
    sd_deg: float
    n: int
    uncertainty_deg: float
    uncertainty_basis: str
    reference_deg: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "call": self.call,
            "mean_drop_deg": _r(self.mean_drop_deg),
            "sd_deg": _r(self.sd_deg),
            "n": self.n,
            "uncertainty_deg": _r(self.uncertainty_deg),
            "uncertainty_basis": self.uncertainty_basis,
            "reference_deg": self.reference_deg,
            "rule": "positive if mean - u > reference; negative if mean + u < reference",
            "reason": self.reason,
        }


def _r(x: float, nd: int = 2) -> float | None:
    return None if not math.isfinite(x) else round(x, nd)


def classify_trendelenburg(
    mean_drop_deg: float,
    sd_deg: float,
    n: int,
    *,
    task: str,
    settings: MotionSettings | None = None,
    kb: KnowledgeBase | None = None,
    blocked_by: str = "",
) -> TrendelenburgCall:
    """Call one side Trendelenburg positive, negative or indeterminate (see the module rule).

    Parameters
    ----------
    mean_drop_deg, sd_deg, n
        Mean and SD of the contralateral pelvic drop over ``n`` strides, bouts or squats.
    task
        ``"walk"``, ``"single_leg_stance"`` or ``"single_leg_squat"``.
    settings, kb
        Where the SDD, MDC and reference come from (default: the bundled knowledge base).
    blocked_by
        A quality problem that forbids a call (gives ``"indeterminate"`` with this reason).

    Examples
    --------
    With SDD 2.8 deg and reference 5 deg, a mean drop of 9 deg over 10 strides with SD 1 deg is
    positive (9 - 2.8 > 5); 4 deg is indeterminate (4 - 2.8 < 5 < 4 + 2.8).
    """
    check_option("task", task, TASKS)
    st = settings or settings_from_kb(kb)
    ref = st.trendelenburg_reference_deg
    if task == "single_leg_stance":
        base, basis = st.cpd_mdc_deg, "mdc"
    else:
        base, basis = st.cpd_sdd_deg, "sdd"
    u = base
    if n >= 2 and math.isfinite(sd_deg):
        half = float(stdtrit(n - 1, 0.975)) * sd_deg / math.sqrt(n)
        if half > u:
            u, basis = half, "between_stride_ci"
    if blocked_by:
        return TrendelenburgCall("indeterminate", mean_drop_deg, sd_deg, n, u, basis, ref,
                                 blocked_by)
    if n < 1 or not math.isfinite(mean_drop_deg):
        return TrendelenburgCall("indeterminate", mean_drop_deg, sd_deg, n, u, basis, ref,
                                 "no valid contralateral pelvic drop was measured")
    lo, hi = mean_drop_deg - u, mean_drop_deg + u
    if lo > ref:
        call: Call = "positive"
        reason = (f"mean drop {mean_drop_deg:.1f} deg minus its uncertainty {u:.1f} deg "
                  f"exceeds the {ref:g} deg reference")
    elif hi < ref:
        call = "negative"
        reason = (f"mean drop {mean_drop_deg:.1f} deg plus its uncertainty {u:.1f} deg "
                  f"stays below the {ref:g} deg reference")
    else:
        call = "indeterminate"
        reason = (f"the band {lo:.1f} to {hi:.1f} deg (mean {mean_drop_deg:.1f} +/- {u:.1f}) "
                  f"contains the {ref:g} deg reference")
    return TrendelenburgCall(call, mean_drop_deg, sd_deg, n, u, basis, ref, reason)


def _side_mean(result: Any, side: str) -> float:
    data: Mapping[str, Any] = result.to_dict() if hasattr(result, "to_dict") else result
    try:
        value = data["per_side"][side]["contralateral_pelvic_drop_deg"]["mean"]
    except (KeyError, TypeError):
        return float("nan")
    return float(value) if value is not None else float("nan")


def compare_visits(
    before: Any,
    after: Any,
    *,
    settings: MotionSettings | None = None,
    kb: KnowledgeBase | None = None,
) -> dict[str, dict[str, Any]]:
    """Compare the contralateral pelvic drop of two visits against the MDC.

    Parameters
    ----------
    before, after
        :class:`~glutemed.motion.MotionResult` objects (or their ``to_dict()`` output) of the
        same task.

    Returns
    -------
    dict
        Per side: ``before_deg``, ``after_deg``, ``change_deg``, ``mdc_deg`` and
        ``interpretation``: ``"drop_increased"`` or ``"drop_decreased"`` when
        ``|change| > MDC``, ``"no_detectable_change"`` otherwise, ``"not_measured"`` when a
        visit lacks the side.

    Raises
    ------
    InputValueError
        If the two results are of different tasks.
    """
    task_a = before.to_dict()["task"] if hasattr(before, "to_dict") else before.get("task")
    task_b = after.to_dict()["task"] if hasattr(after, "to_dict") else after.get("task")
    if task_a != task_b:
        raise InputValueError(
            "cannot compare visits of different tasks",
            [Problem("after.task", f"the same task as before ({task_a})", str(task_b))],
        )
    st = settings or settings_from_kb(kb)
    out: dict[str, dict[str, Any]] = {}
    for side in ("left", "right"):
        a, b = _side_mean(before, side), _side_mean(after, side)
        if not (math.isfinite(a) and math.isfinite(b)):
            out[side] = {"before_deg": _r(a), "after_deg": _r(b), "change_deg": None,
                         "mdc_deg": st.cpd_mdc_deg, "interpretation": "not_measured"}
            continue
        change = b - a
        if change > st.cpd_mdc_deg:
            label = "drop_increased"
        elif change < -st.cpd_mdc_deg:
            label = "drop_decreased"
        else:
            label = "no_detectable_change"
        out[side] = {"before_deg": _r(a), "after_deg": _r(b), "change_deg": _r(change),
                     "mdc_deg": st.cpd_mdc_deg, "interpretation": label}
    return out
