"""Forecast snapshots: what was forecast at the time, kept as it was, and scored once the period ends.

A snapshot records, for each method, the percentiles and expectation of the period total and
every open deal's probability. Scoring compares them with what the period actually won, so the
accuracy shown is that of the forecasts people saw, never one recomputed from today's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import Connection, func, insert, select

from dealflow.analytics.forecast_history import load_history
from dealflow.analytics.forecast_runs import compute, views
from dealflow.analytics.forecast_scoring import Calibration, GroupScore, brier, by_group, calibration
from dealflow.analytics.periods import Period
from dealflow.store import tables as t
from dealflow.store.processes import load_process
from dealflow.store.unit_of_work import UnitOfWork

_BATCH = 5_000
_INSERT_SNAPSHOT = insert(t.forecast_snapshots).returning(t.forecast_snapshots.c.id)


class Taken(BaseModel):
    """The snapshots one command stored (none when a recent one made it unnecessary)."""

    period: str
    taken_at: datetime
    ids: list[int]
    deals: int
    skipped: str | None = None


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2)))


def _latest(connection: Connection, period: Period, process: str | None) -> datetime | None:
    s = t.forecast_snapshots
    query = select(func.max(s.c.taken_at)).where(s.c.period == period.label)
    query = query.where(s.c.process.is_(None) if process is None else s.c.process == process)
    found: datetime | None = connection.execute(query).scalar()
    return found


def take_snapshot(
    *,
    uow: UnitOfWork,
    period: Period,
    trials: int,
    seed: int | None = None,
    process: str | None = None,
    every: timedelta | None = None,
) -> Taken:
    """Store the forecast of ``period`` as of now, for both methods; with ``every``, only if the
    last snapshot of the period is at least that old (for a scheduled job)."""
    connection, now = uow.connection, uow.clock()
    if process is not None:
        load_process(connection, key=process)
    latest = _latest(connection, period, process) if every is not None else None
    if every is not None and latest is not None and now - latest < every:
        return Taken(period=period.label, taken_at=latest, ids=[], deals=0, skipped=f"last one taken {latest}")
    history, calls = load_history(connection, process=process)
    run = compute(history, period, now, trials=trials, seed=seed)
    at = now.timestamp()
    called = [calls.category_as_of(int(d), at) for d in run.deals]
    rep = [calls.probability_as_of(int(d), at) for d in run.deals]
    commit, best_case = views(run, history, called)
    amounts = run.amounts(history)
    ids = []
    for method, probability, simulation in (
        ("history", run.probability, run.history_simulation),
        ("naive", run.naive, run.naive_simulation),
    ):
        p10, p50, p90 = simulation.percentiles()
        row = {
            "taken_at": now,
            "period": period.label,
            "period_start": period.start,
            "period_end": period.end,
            "process": process,
            "method": method,
            "trials": trials,
            "seed": simulation.seed,
            "won_to_date": _money(run.won_to_date),
            "expected": _money(run.won_to_date + float(amounts @ probability)),
            "p10": _money(p10),
            "p50": _money(p50),
            "p90": _money(p90),
            "commit": _money(commit.amount) if method == "history" else None,
            "best_case": _money(best_case.amount) if method == "history" else None,
            "deals": int(run.deals.size),
        }
        snapshot_id = int(connection.execute(_INSERT_SNAPSHOT, row).scalar_one())
        ids.append(snapshot_id)
        deal_rows = [
            {
                "snapshot_id": snapshot_id,
                "deal_id": history.deal_ids[d],
                "stage": history.stages[run.stages[i]],
                "owner": history.owners[run.owners[i]],
                "probability": float(probability[i]),
                "amount": _money(float(amounts[i])) if history.has_amount[d] else None,
                "forecast_category": called[i],
                "rep_probability": rep[i],
            }
            for i, d in enumerate(run.deals.tolist())
        ]
        for first in range(0, len(deal_rows), _BATCH):
            connection.execute(insert(t.forecast_snapshot_deals), deal_rows[first : first + _BATCH])
    uow.commit()
    return Taken(period=period.label, taken_at=now, ids=ids, deals=int(run.deals.size))


class SnapshotScore(BaseModel):
    """One stored snapshot beside what its period won."""

    id: int
    period: str
    process: str | None
    method: str
    taken_at: datetime
    expected: float
    p10: float
    p50: float
    p90: float
    actual: float  # won to date then, plus what the deals it covered won in the period
    won_all: float  # everything won in the period, deals opened after the snapshot included
    error: float  # p50 - actual
    ape: float | None  # |error| / actual; None when nothing was won
    inside: bool
    deals: int
    brier: float | None


class MethodSummary(BaseModel):
    """One method over every scored snapshot: errors, coverage, Brier score and calibration."""

    method: str
    snapshots: int
    mape: float | None
    coverage: float
    deals: int
    brier: float | None
    calibration: list[Calibration]
    stages: list[GroupScore]
    reps: list[GroupScore]


class Scorecard(BaseModel):
    """Every snapshot whose period has ended, scored; and the reps' own calls scored alike."""

    scored_at: datetime
    waiting: int  # snapshots whose period has not ended yet
    snapshots: list[SnapshotScore]
    methods: list[MethodSummary]
    rep_probability: list[GroupScore]  # the reps' probabilities and the model's, on the same deals
    categories: list[GroupScore]  # each forecast category called: the model's mean probability, the share won


def _snapshots(connection: Connection, now: datetime, period: str | None) -> tuple[list[Any], int]:
    s = t.forecast_snapshots
    query = select(s).order_by(s.c.period_start, s.c.taken_at, s.c.id)
    if period is not None:
        query = query.where(s.c.period == period)
    rows = list(connection.execute(query))
    ended = [r for r in rows if r.period_end <= now]
    return ended, len(rows) - len(ended)


def _deal_outcomes(connection: Connection, ids: list[int]) -> list[Any]:
    sd, d = t.forecast_snapshot_deals, t.deals
    query = (
        select(sd, d.c.status, d.c.closed_at, d.c.amount.label("final_amount"))
        .outerjoin(d, d.c.id == sd.c.deal_id)
        .where(sd.c.snapshot_id.in_(ids))
        .order_by(sd.c.snapshot_id, sd.c.deal_id)
    )
    return list(connection.execute(query)) if ids else []


def _won_all(connection: Connection, start: datetime, end: datetime, process: str | None) -> float:
    d = t.deals
    query = select(func.sum(d.c.amount)).where(d.c.status == "won", d.c.closed_at >= start, d.c.closed_at < end)
    if process is not None:
        query = query.where(d.c.process == process)
    return float(connection.execute(query).scalar() or 0)


def _won(row: Any, snapshot: Any) -> bool:
    """Whether the deal was won in what was left of the period when the snapshot was taken."""
    opens = max(snapshot.period_start, snapshot.taken_at)
    return bool(row.status == "won" and row.closed_at is not None and opens <= row.closed_at < snapshot.period_end)


def _score(snapshot: Any, rows: list[Any], won_all: float) -> SnapshotScore:
    outcomes = np.array([_won(r, snapshot) for r in rows], dtype=bool)
    probabilities = np.array([r.probability for r in rows], dtype=float)
    won = sum(float(r.final_amount or 0) for r, y in zip(rows, outcomes, strict=True) if y)
    actual = float(snapshot.won_to_date) + won
    p10, p50, p90 = float(snapshot.p10), float(snapshot.p50), float(snapshot.p90)
    return SnapshotScore(
        id=snapshot.id,
        period=snapshot.period,
        process=snapshot.process,
        method=snapshot.method,
        taken_at=snapshot.taken_at,
        expected=float(snapshot.expected),
        p10=p10,
        p50=p50,
        p90=p90,
        actual=round(actual, 2),
        won_all=round(won_all, 2),
        error=round(p50 - actual, 2),
        ape=round(abs(p50 - actual) / actual, 4) if actual > 0 else None,
        inside=p10 <= actual <= p90,
        deals=len(rows),
        brier=round(brier(probabilities, outcomes), 4) if rows else None,
    )


@dataclass(frozen=True)
class _Outcome:
    """One deal of one scored snapshot: what was said of it and whether it was won."""

    method: str
    stage: str
    owner: str
    probability: float
    forecast_category: str | None
    rep_probability: float | None
    won: bool


def _probabilities(outcomes: list[_Outcome]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return np.array([o.probability for o in outcomes], dtype=float), np.array([o.won for o in outcomes], dtype=bool)


def _summary(method: str, scores: list[SnapshotScore], outcomes: list[_Outcome]) -> MethodSummary:
    mine = [s for s in scores if s.method == method]
    errors = [s.ape for s in mine if s.ape is not None]
    deals = [o for o in outcomes if o.method == method]
    probabilities, won = _probabilities(deals)
    return MethodSummary(
        method=method,
        snapshots=len(mine),
        mape=round(float(np.mean(errors)), 4) if errors else None,
        coverage=round(sum(s.inside for s in mine) / len(mine), 4) if mine else 0.0,
        deals=len(deals),
        brier=round(brier(probabilities, won), 4) if deals else None,
        calibration=calibration(probabilities, won),
        stages=by_group([o.stage for o in deals], probabilities, won),
        reps=by_group([o.owner for o in deals], probabilities, won),
    )


def _calls(outcomes: list[_Outcome]) -> tuple[list[GroupScore], list[GroupScore]]:
    model = [o for o in outcomes if o.method == "history"]
    called = [o for o in model if o.rep_probability is not None]
    probabilities, won = _probabilities(called)
    reps = np.array([o.rep_probability for o in called], dtype=float)
    paired = by_group(["reps"] * len(called), reps, won) + by_group(["model"] * len(called), probabilities, won)
    categorised = [o for o in model if o.forecast_category is not None]
    probabilities, won = _probabilities(categorised)
    return paired, by_group([str(o.forecast_category) for o in categorised], probabilities, won)


def score_snapshots(connection: Connection, *, now: datetime, period: str | None = None) -> Scorecard:
    """Score every stored snapshot (of one period, or all) whose period has ended by ``now``."""
    snapshots, waiting = _snapshots(connection, now, period)
    grouped: dict[int, list[Any]] = {s.id: [] for s in snapshots}
    for row in _deal_outcomes(connection, list(grouped)):
        grouped[row.snapshot_id].append(row)
    scores: list[SnapshotScore] = []
    outcomes: list[_Outcome] = []
    for s in snapshots:
        scores.append(_score(s, grouped[s.id], _won_all(connection, s.period_start, s.period_end, s.process)))
        outcomes += [
            _Outcome(s.method, r.stage, r.owner, r.probability, r.forecast_category, r.rep_probability, _won(r, s))
            for r in grouped[s.id]
        ]
    methods = [_summary(m, scores, outcomes) for m in ("history", "naive") if any(s.method == m for s in scores)]
    paired, categories = _calls(outcomes)
    return Scorecard(
        scored_at=now, waiting=waiting, snapshots=scores, methods=methods, rep_probability=paired, categories=categories
    )
