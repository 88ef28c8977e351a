"""Layer 2: outcome-measure scoring, change interpretation and trajectories.

Instrument definitions (items, ranges, direction, scoring rule, missing-item rule, licence and
the published MCID / MDC / PASS thresholds with their sources) are read from the knowledge base
(``kb.instruments``); this package holds no clinical number.

>>> from glutemed.questionnaires import score, interpret_change, classify_trajectory
>>> score("nprs", 6).total
6.0
>>> interpret_change("nprs", 6, 4).responder_status
'responder'
>>> classify_trajectory("nprs", [(0, 7), (28, 5), (56, 3)]).status
'improving'
"""

from glutemed.questionnaires._change import interpret_change
from glutemed.questionnaires._models import (
    Change,
    ResponderStatus,
    Score,
    ThresholdCheck,
    Trajectory,
    TrajectoryStatus,
)
from glutemed.questionnaires._scoring import SINGLE_ITEM_ID, Answers, score
from glutemed.questionnaires._trajectory import (
    DEFAULT_PLATEAU_WINDOW_DAYS,
    TimePoint,
    classify_trajectory,
)

__all__ = [
    "DEFAULT_PLATEAU_WINDOW_DAYS",
    "SINGLE_ITEM_ID",
    "Answers",
    "Change",
    "ResponderStatus",
    "Score",
    "ThresholdCheck",
    "TimePoint",
    "Trajectory",
    "TrajectoryStatus",
    "classify_trajectory",
    "interpret_change",
    "score",
]
