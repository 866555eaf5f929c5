"""The win probability of each open deal, learnt from the team's own history (pure numpy).

The question asked of every deal open at the as-of moment T is: *will it be won after T and
before the period ends?* The answer is read off past deals that were in the same stage at a
similar age in that stage, with nothing that happened after T (no leakage).

The estimator learns from recent history: the stays that began in the year before T, or the latest
``LEAST_STAYS`` when that year holds fewer (a smaller history is used whole). Win rates by stage and
age follow the team's current process, reps and market, which drift; a year holds every season
once, and beyond 100,000 samples more history adds little precision but weighs older behaviour in.
Per stage ``s`` and window ``[h0, h1)`` (seconds after T; ``h1`` = period end - T, ``h0`` = period
start - T when the period has not begun, else 0):

1. **Age buckets.** The ages reached in ``s`` by the stays that began before T (the whole stay
   when it ended before T, else its age at T, which includes the deals being forecast) are cut at
   their 25th, 50th, 75th and 90th percentiles: a deal aged ``a`` in ``s`` falls in the bucket
   whose lower edge ``l`` is the largest edge <= ``a``. With fewer than ``MIN_STAYS_FOR_BUCKETS``
   stays the stage has one bucket.
2. **Landmark samples.** Every past stay in ``s`` that had reached age ``l`` before T, while the
   deal was still in ``s``, is one sample, observed from the landmark ``m = entered + l``: a win
   at ``closed - m``, another ending (lost, disqualified) at ``closed - m``, or, when the deal was
   still open at T, censored at ``T - m``. Closings after T are never seen.
3. **Cumulative incidence.** The share of samples won within ``[h0, h1)`` is the Aalen-Johansen
   estimate of the cumulative incidence of a win (a loss being the competing ending): the
   Kaplan-Meier probability of still being open just before each ending, times the share of the
   deals at risk then that were won. When every sample is observed through ``h1`` this is exactly
   the plain share of samples won within the window; censoring only matters for young history.
4. **Shrinkage.** A bucket with ``n`` samples observed through the window (or ended before it
   closed) is pulled towards a parent with ``PRIOR_WEIGHT`` pseudo-samples:
   ``p = (n * observed + k * parent) / (n + k)``. The first bucket's parent is the stage's rate
   (the landmark at age 0, the same samples), each later bucket's is the bucket before it, so a
   thin bucket of old deals falls back on the nearest younger age rather than on the rate of
   fresh deals; a stage is pulled the same way towards the rate of all stages together. A bucket
   or stage without samples takes its parent; an age edge no stay had reached before T is dropped.

The naive method, shown beside it, is the stage-probability table a CRM would hold: per stage,
the share of the deals that were ever in it and had closed by T that were won, whatever their
age and whatever the length of the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Kinds = NDArray[np.int8]  # CENSORED, WON or ENDED per sample
Bools = NDArray[np.bool_]

MIN_STAYS_FOR_BUCKETS = 40
RECENT_DAYS = 365.0  # the model learns from the stays that began in the last year ...
LEAST_STAYS = 100_000  # ... or from the latest this many, when the last year holds fewer
DAY = 86_400.0
PRIOR_WEIGHT = 10.0
QUANTILES = (0.25, 0.5, 0.75, 0.9)
CENSORED, WON, ENDED = 0, 1, 2
SEEN_CELLS = 64_000_000  # stages x deals up to which the naive rates flag each pair instead of sorting


@dataclass(frozen=True)
class History:
    """Every stay of every deal in a sales stage, as arrays; times are seconds since the epoch.

    Per deal (index ``d``): ``closed[d]`` (inf while open), ``won[d]``, ``amount[d]`` (0 when none).
    Per stay (index ``i``): its deal, stage code, owner code, ``entered[i]`` and ``left[i]`` (inf for
    the current stay of an open deal). Stays after a win (post-sale) are not included."""

    stages: tuple[str, ...]
    owners: tuple[str, ...]
    deal_ids: tuple[str, ...]
    titles: tuple[str, ...]
    closed: Floats
    won: Bools
    amount: Floats
    has_amount: Bools
    stay_deal: Ints
    stay_stage: Ints
    stay_owner: Ints
    entered: Floats
    left: Floats

    def closed_before(self, at: float) -> bool:
        """Whether any deal had closed (won or not) by ``at``."""
        return bool(np.any(self.closed <= at))


@dataclass(frozen=True)
class Window:
    """The part of the future a probability is about: ``[start, end)`` seconds after the as-of moment."""

    start: float
    end: float


def window_for(at: float, period_start: float, period_end: float) -> Window:
    """The window from ``at`` to the period's end, starting no earlier than the period does."""
    return Window(start=max(period_start - at, 0.0), end=period_end - at)


def open_stays(history: History, at: float) -> Ints:
    """The stay that holds each deal open at ``at`` (one per open deal)."""
    closed = history.closed[history.stay_deal]
    held = (history.entered <= at) & (at < history.left) & (at < closed)
    return np.flatnonzero(held).astype(np.int64)


def won_amount(history: History, start: float, end: float, *, deals: Ints | None = None) -> float:
    """The amount of the deals (all, or those given) won in ``[start, end)``."""
    chosen = np.arange(len(history.won)) if deals is None else deals
    hit = history.won[chosen] & (history.closed[chosen] >= start) & (history.closed[chosen] < end)
    return float(history.amount[chosen][hit].sum())


@dataclass(frozen=True)
class Samples:
    """Stays as landmark samples: when each entered and left its stage, when its deal's ending was
    seen (``at`` when it had not ended by then), how it ended (WON, ENDED, CENSORED), and its stage."""

    entered: Floats
    left: Floats
    ends: Floats
    kinds: Kinds
    stage: Ints

    def subset(self, chosen: Bools) -> Samples:
        """The samples where ``chosen`` is true, in the same order."""
        return Samples(
            self.entered[chosen], self.left[chosen], self.ends[chosen], self.kinds[chosen], self.stage[chosen]
        )


def samples(history: History, at: float, stays: Ints, *, ordered: bool = False) -> Samples:
    """The ``stays`` as samples known at ``at``; with ``ordered``, by time from entry to the ending
    seen, the order of their landmark times at every age (so :func:`win_incidence` need not sort)."""
    deals = history.stay_deal[stays]
    closed = history.closed[deals]
    known = closed <= at
    found = Samples(
        entered=history.entered[stays],
        left=history.left[stays],
        ends=np.where(known, closed, at),
        kinds=np.where(known, np.where(history.won[deals], WON, ENDED), CENSORED).astype(np.int8),
        stage=history.stay_stage[stays],
    )
    if not ordered:
        return found
    order = sorting_order(found.ends - found.entered)
    return Samples(found.entered[order], found.left[order], found.ends[order], found.kinds[order], found.stage[order])


def sorting_order(values: Floats) -> Ints:
    """The stable sorting order of ``values`` (``np.argsort(values, kind="stable")``), faster.

    numpy sorts values with vectorised kernels but has none for ``argsort``, which is ten times
    slower on millions of floats. Non-negative doubles order as their bit patterns do, so each
    value's pattern, its lowest bits replaced by its position, is sorted as one integer; a stable
    sort of the values in that order, nearly sorted already, then only puts right the values
    that differ in those lowest bits (timsort takes a nearly sorted array in one pass)."""
    if values.size < 2 or not (values.min() >= 0 and np.isfinite(values.max())):
        return np.argsort(values, kind="stable").astype(np.int64)
    bits = np.uint64(int(values.size - 1).bit_length())
    position = np.arange(values.size, dtype=np.uint64)
    packed = ((values.view(np.uint64) >> bits) << bits) | position
    packed.sort()
    order = (packed & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
    return order[np.argsort(values[order], kind="stable")]


def by_stage(found: Samples, stages: int) -> list[Samples]:
    """The samples of each stage code from 0 to ``stages - 1``, each in the order they had."""
    order = np.argsort(found.stage.astype(np.min_scalar_type(stages)), kind="stable")  # a radix sort
    grouped = Samples(
        found.entered[order], found.left[order], found.ends[order], found.kinds[order], found.stage[order]
    )
    bounds = np.concatenate(([0], np.cumsum(np.bincount(found.stage, minlength=stages)))).tolist()
    return [
        Samples(grouped.entered[a:b], grouped.left[a:b], grouped.ends[a:b], grouped.kinds[a:b], grouped.stage[a:b])
        for a, b in pairwise(bounds)
    ]


def landmark_of(found: Samples, at: float, age: float) -> tuple[Floats, Kinds]:
    """Time from each sample's landmark (``entered + age``) to its ending, and its kind.

    Only stays still in their stage at that age, reached before ``at``, are samples; endings
    after ``at`` are not known yet, so those samples are censored at ``at``."""
    marks = found.entered + age
    kept = (marks < at) & (marks < found.left)
    return found.ends[kept] - marks[kept], found.kinds[kept]


def landmark(history: History, at: float, stays: Ints, age: float) -> tuple[Floats, Kinds]:
    """:func:`landmark_of` the ``stays`` of ``history``."""
    return landmark_of(samples(history, at, stays), at, age)


def win_incidence(times: Floats, kinds: NDArray[np.integer[Any]], window: Window) -> tuple[float, int]:
    """Aalen-Johansen probability of a win within the window, and the samples that inform it.

    A sample informs it when it ended before the window closed or was observed past its end.
    Samples already in time order (as :func:`fit` passes them) are not sorted again."""
    if times.size == 0:
        return float("nan"), 0
    informed = int(np.count_nonzero(((kinds != CENSORED) & (times < window.end)) | (times >= window.end)))
    if np.any(times[1:] < times[:-1]):
        order = np.argsort(times, kind="stable")  # nearly sorted: timsort is quick on it
        times, kinds = times[order], kinds[order]
    # Only the moments before the window's end count: the samples still open then only count as at
    # risk before it (whole groups of equal times are kept, so every kept figure is unchanged).
    size = times.size
    kept = int(np.searchsorted(times, window.end))
    if kept == 0:
        return 0.0, informed
    times, kinds = times[:kept], kinds[:kept]
    distinct = np.concatenate(([True], times[1:] != times[:-1]))
    if distinct.all():  # no two samples end at the same moment: each is its own group
        moments = times
        wins = (kinds == WON).astype(float)
        endings = (kinds != CENSORED).astype(float)
        at_risk = size - np.arange(kept, dtype=float)
    else:
        first = np.flatnonzero(distinct)
        moments = times[first]
        wins = np.add.reduceat((kinds == WON).astype(float), first)
        endings = np.add.reduceat((kinds != CENSORED).astype(float), first)
        leaving = np.diff(np.append(first, times.size)).astype(float)
        at_risk = size - np.concatenate(([0.0], np.cumsum(leaving)[:-1]))
    still_open = np.concatenate(([1.0], np.cumprod(1.0 - endings / at_risk)[:-1]))
    increments = still_open * wins / at_risk
    before_end = increments[moments < window.end].sum()
    before_start = increments[moments < window.start].sum()
    return float(before_end - before_start), informed


def shrink(observed: float, samples: int, parent: float, weight: float = PRIOR_WEIGHT) -> float:
    """``observed`` from ``samples`` pulled towards ``parent`` with ``weight`` pseudo-samples."""
    if samples == 0 or np.isnan(observed):
        return parent
    return (samples * observed + weight * parent) / (samples + weight)


def age_edges(durations: Floats, *, minimum: int = MIN_STAYS_FOR_BUCKETS) -> Floats:
    """Lower edges of the age buckets: 0 and the ``QUANTILES`` of the ages the stays reached."""
    if durations.size < minimum:
        return np.zeros(1)
    cuts = np.quantile(durations, QUANTILES)
    return np.unique(np.concatenate(([0.0], cuts[cuts > 0])))


@dataclass(frozen=True)
class Bucket:
    """One age bucket of one stage: its lower edge, samples, observed and shrunk probability."""

    stage: int
    age: float
    samples: int
    observed: float
    probability: float


@dataclass(frozen=True)
class WinModel:
    """Win probabilities by stage and age bucket for one as-of moment and window."""

    window: Window
    pooled: float
    stage_rates: Floats
    buckets: tuple[Bucket, ...]

    def probability(self, stage: Ints, age: Floats) -> Floats:
        """The probability for deals in ``stage`` aged ``age`` seconds in it."""
        found = np.empty(stage.shape, dtype=float)
        for code in np.flatnonzero(np.bincount(stage)):
            chosen = stage == code
            rows = [b for b in self.buckets if b.stage == code]
            edges = np.array([b.age for b in rows])
            values = np.array([b.probability for b in rows])
            found[chosen] = values[np.searchsorted(edges, age[chosen], side="right") - 1]
        return found


def recent_stays(history: History, at: float, *, days: float = RECENT_DAYS, least: int = LEAST_STAYS) -> Ints:
    """The stays the model learns from: those that began in the ``days`` before ``at``, or, when
    these are fewer than ``least``, the latest ``least`` of those that began before ``at`` (all of
    them in a smaller history)."""
    began = np.flatnonzero(history.entered < at).astype(np.int64)
    if began.size <= least:
        return began
    entered = history.entered[began]
    latest = float(np.partition(entered, began.size - least)[began.size - least])
    return began[entered >= min(at - days * DAY, latest)]


def fit(
    history: History,
    at: float,
    window: Window,
    *,
    weight: float = PRIOR_WEIGHT,
    days: float = RECENT_DAYS,
    least: int = LEAST_STAYS,
) -> WinModel:
    """The win model as of ``at``: every stage's age buckets, from the recent history known at
    ``at`` only (see :func:`recent_stays`)."""
    began = samples(history, at, recent_stays(history, at, days=days, least=least), ordered=True)
    raw, informed = win_incidence(*landmark_of(began, at, 0.0), window)
    pooled = 0.0 if informed == 0 else raw
    rates = np.full(len(history.stages), pooled)
    buckets: list[Bucket] = []
    for code, stays in enumerate(by_stage(began, len(history.stages))):
        observed, informed = win_incidence(*landmark_of(stays, at, 0.0), window)
        rates[code] = shrink(observed, informed, pooled, weight)
        reached = np.minimum(stays.left, at) - stays.entered
        parent = float(rates[code])
        buckets.append(Bucket(code, 0.0, informed, observed, parent))  # the landmark at age 0: the stage itself
        # A sample still in its stage at an age is too at every younger one: each edge looks only at
        # the samples kept at the edge before it (the same times as landmark_of(stays, at, edge)).
        entered, left, ends, kinds = stays.entered, stays.left, stays.ends, stays.kinds
        for edge in age_edges(reached)[1:]:
            marks = entered + float(edge)
            kept = (marks < at) & (marks < left)
            entered, left, ends, kinds = entered[kept], left[kept], ends[kept], kinds[kept]
            times = ends - (entered + float(edge))
            if times.size == 0:
                break
            observed, informed = win_incidence(times, kinds, window)
            parent = shrink(observed, informed, parent, weight)
            buckets.append(Bucket(code, float(edge), informed, observed, parent))
    return WinModel(window=window, pooled=pooled, stage_rates=rates, buckets=tuple(buckets))


def naive_rates(history: History, at: float) -> Floats:
    """Per stage, the share won of the deals ever in it that had closed by ``at`` (all stages' share
    when a stage has none)."""
    began = history.entered < at
    closed = history.closed[history.stay_deal] <= at
    chosen = began & closed
    deals, stages = history.closed.size, len(history.stages)
    # Each (stage, deal) pair once, as one integer: a deal in a stage twice counts once.
    keys = history.stay_stage[chosen] * deals + history.stay_deal[chosen]
    if stages * deals <= SEEN_CELLS:  # a flag per stage and deal: no sort
        seen = np.zeros(stages * deals, dtype=bool)
        seen[keys] = True
        table = seen.reshape(stages, deals)
        totals = np.count_nonzero(table, axis=1)
        wins = np.count_nonzero(table & history.won, axis=1)
    else:  # sorted by hand: np.unique of integers uses a hash table (numpy 2.3+), far slower
        pairs = np.sort(keys)
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
        stage, deal = np.divmod(pairs, deals)
        totals = np.bincount(stage, minlength=stages)
        wins = np.bincount(stage[history.won[deal]], minlength=stages)
    ended = history.closed <= at
    pooled = float(history.won[ended].mean()) if ended.any() else 0.0
    return np.where(totals > 0, wins / np.maximum(totals, 1), pooled)
