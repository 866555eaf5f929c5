"""Scores of probabilities against what happened: Brier score, calibration by bucket, by group.

The Brier score is the mean of ``(p - outcome)²`` over the deals (0 is perfect; always saying 0.5
scores 0.25). Calibration groups the deals by the probability given them, in tenths, and sets the
mean probability beside the share that was actually won: the two agree when the model is honest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
BUCKETS = 10


class Calibration(BaseModel):
    """The deals given a probability in one tenth: their mean probability and the share won."""

    bucket: str
    deals: int
    predicted: float
    observed: float


class GroupScore(BaseModel):
    """The probabilities of one group of deals (a stage, a rep, a call) against their outcomes."""

    name: str
    deals: int
    brier: float
    predicted: float
    observed: float


def brier(probabilities: Floats, outcomes: Bools) -> float:
    """Mean squared difference between the probabilities and the outcomes (1 won, 0 not)."""
    return float(np.mean((probabilities - outcomes.astype(float)) ** 2))


def calibration(probabilities: Floats, outcomes: Bools, *, buckets: int = BUCKETS) -> list[Calibration]:
    """Predicted against observed, per bucket of probability (empty buckets left out)."""
    slot = np.minimum((probabilities * buckets).astype(int), buckets - 1)
    rows = []
    for b in range(buckets):
        chosen = slot == b
        if chosen.any():
            rows.append(
                Calibration(
                    bucket=f"{b / buckets:.1f}-{(b + 1) / buckets:.1f}",
                    deals=int(chosen.sum()),
                    predicted=round(float(probabilities[chosen].mean()), 4),
                    observed=round(float(outcomes[chosen].mean()), 4),
                )
            )
    return rows


def by_group(names: Sequence[str], probabilities: Floats, outcomes: Bools) -> list[GroupScore]:
    """Brier score, mean probability and share won of each group of deals, in name order."""
    labels = np.array(names, dtype=object)
    rows = []
    for name in sorted(set(names)):
        chosen = labels == name
        rows.append(
            GroupScore(
                name=name,
                deals=int(chosen.sum()),
                brier=round(brier(probabilities[chosen], outcomes[chosen]), 4),
                predicted=round(float(probabilities[chosen].mean()), 4),
                observed=round(float(outcomes[chosen].mean()), 4),
            )
        )
    return rows
