"""Monte Carlo of a period's won amount: each open deal won or not, independently, many times over.

Each trial draws every deal's outcome (a Bernoulli draw with its probability) and adds up the
amounts won. Small pipelines are simulated deal by deal, a block of trials at a time. For large
ones (more than ``EXACT_CELLS`` draws) the deals that shape the distribution, those with the
largest third moment ``amount³ p (1 - p) (p² + (1 - p)²)``, are still drawn one by one; the sum of
all the others is drawn from the normal distribution with its exact mean and variance, but only
when the Berry-Esseen bound (constant 0.56, Shevtsova 2010) proves that this changes no
probability of the total by more than the Monte Carlo sampling error itself (``0.5 / sqrt(trials)``,
the standard error of an estimated median). As many of the largest deals as that proof needs are
drawn one by one; when no number of them is enough, every deal is drawn, however long it takes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

EXACT_CELLS = 40_000_000  # deal x trial draws simulated one by one before approximating
HEAVY_CELLS = 10_000_000  # draws at least kept for the heaviest deals when approximating the rest
BLOCK_CELLS = 2_000_000  # draws per block of trials (a few MB of memory)
BERRY_ESSEEN = 0.56
PERCENTILES = (10.0, 50.0, 90.0)


@dataclass(frozen=True)
class Simulation:
    """The simulated totals and how they were drawn."""

    totals: Floats
    seed: int
    exact_deals: int
    normal_deals: int
    error_bound: float  # most any probability of the total can be off by (0 when every deal is drawn)

    @property
    def method(self) -> str:
        """How the trials were drawn, in words."""
        if not self.normal_deals:
            return f"every deal drawn in each of {self.totals.size:,} trials"
        return (
            f"the {self.exact_deals:,} largest deals drawn in each of {self.totals.size:,} trials; "
            f"the sum of the other {self.normal_deals:,} drawn from its normal distribution "
            f"(changes no probability by more than {self.error_bound:.4f})"
        )

    def percentiles(self) -> tuple[float, float, float]:
        """P10, P50 and P90 of the totals."""
        p10, p50, p90 = np.percentile(self.totals, PERCENTILES)
        return float(p10), float(p50), float(p90)


def draw_exact(amounts: Floats, probabilities: Floats, trials: int, rng: np.random.Generator) -> Floats:
    """Totals of ``trials`` trials, every deal drawn in each (a block of trials at a time)."""
    totals = np.zeros(trials)
    if amounts.size == 0:
        return totals
    block = max(1, min(trials, BLOCK_CELLS // amounts.size))
    buffer = np.empty((block, amounts.size), dtype=np.float32)
    thresholds = probabilities.astype(np.float32)
    for first in range(0, trials, block):
        rows = buffer[: min(block, trials - first)]
        rng.random(out=rows, dtype=np.float32)
        np.less(rows, thresholds, out=rows, casting="unsafe")  # 1.0 where the deal is won
        totals[first : first + rows.shape[0]] = rows @ amounts
    return totals


def split_heavy(amounts: Floats, probabilities: Floats, trials: int) -> tuple[Ints, int, float] | None:
    """Deals ordered heaviest first, how many to draw one by one, and the bound on the error of
    approximating the sum of the rest by a normal distribution; None when no split is good enough."""
    q = 1.0 - probabilities
    variance = amounts**2 * probabilities * q
    third = amounts**3 * probabilities * q * (probabilities**2 + q**2)
    order = np.argsort(-third, kind="stable").astype(np.int64)
    rest_variance = np.cumsum(variance[order][::-1])[::-1]
    rest_third = np.cumsum(third[order][::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        bounds = np.where(rest_variance > 0, BERRY_ESSEEN * rest_third / rest_variance**1.5, 0.0)
    good = np.flatnonzero(bounds <= 0.5 / np.sqrt(trials))
    if good.size == 0:
        return None
    count = max(int(good[0]), min(amounts.size, HEAVY_CELLS // trials))
    if count >= amounts.size:
        return None
    return order, count, float(bounds[count])


def simulate(
    amounts: Floats, probabilities: Floats, *, trials: int, seed: int | None = None, base: float = 0.0
) -> Simulation:
    """Simulate the total won: ``base`` plus each deal's amount when its draw is a win."""
    seed = secrets.randbits(32) if seed is None else seed
    rng = np.random.default_rng(seed)
    live = (amounts > 0) & (probabilities > 0)
    base += float(amounts[live & (probabilities >= 1)].sum())
    chosen = live & (probabilities < 1)
    amounts, probabilities = amounts[chosen], probabilities[chosen]
    split = split_heavy(amounts, probabilities, trials) if amounts.size * trials > EXACT_CELLS else None
    if split is None:
        totals = draw_exact(amounts, probabilities, trials, rng)
        return Simulation(totals + base, seed, int(amounts.size), 0, 0.0)
    order, count, bound = split
    heavy, light = order[:count], order[count:]
    totals = draw_exact(amounts[heavy], probabilities[heavy], trials, rng)
    mean = float(np.sum(amounts[light] * probabilities[light]))
    spread = float(np.sqrt(np.sum(amounts[light] ** 2 * probabilities[light] * (1 - probabilities[light]))))
    totals += rng.normal(mean, spread, trials)
    return Simulation(totals + base, seed, int(heavy.size), int(light.size), bound)
