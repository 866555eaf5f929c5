"""The back-test: the forecast re-run as of the start of earlier periods, from what was known then,
and compared with what those periods actually won, for the history method and the naive one."""

from __future__ import annotations

import secrets
from datetime import datetime

import numpy as np
from pydantic import BaseModel
from sqlalchemy import Connection

from dealflow.analytics.forecast import History, won_amount
from dealflow.analytics.forecast_history import load_history
from dealflow.analytics.forecast_runs import check_trials, compute, moment_text
from dealflow.analytics.periods import Period
from dealflow.errors import InvalidInput
from dealflow.store.processes import load_process

MAX_PERIODS = 40


class BacktestRow(BaseModel):
    """One method's forecast of one past period beside what the period won."""

    period: str
    as_of: datetime
    method: str
    expected: float
    p10: float
    p50: float
    p90: float
    actual: float  # won in the period by the deals open at its start (what the forecast covers)
    won_all: float  # everything won in the period, deals opened after its start included
    error: float  # p50 - actual
    ape: float | None  # |error| / actual; None when nothing was won
    inside: bool  # p10 <= actual <= p90


class MethodScore(BaseModel):
    """How one method did over the back-tested periods."""

    method: str
    periods: int
    mape: float | None  # mean absolute percentage error of P50 (periods that won something)
    coverage: float  # share of periods whose actual fell inside P10-P90 (0.8 if calibrated)
    bias: float  # mean of P50 - actual


class Backtest(BaseModel):
    """The back-test of the periods before ``period``."""

    period: str
    trials: int
    seed: int
    rows: list[BacktestRow]
    scores: list[MethodScore]
    skipped: list[str]


def _rows(history: History, past: Period, *, trials: int, seed: int) -> list[BacktestRow]:
    run = compute(history, past, past.start, trials=trials, seed=seed)
    actual = run.actual(history)
    won_all = won_amount(history, past.start.timestamp(), past.end.timestamp())
    amounts = run.amounts(history)
    rows = []
    for method, probability, simulation in (
        ("history", run.probability, run.history_simulation),
        ("naive", run.naive, run.naive_simulation),
    ):
        p10, p50, p90 = simulation.percentiles()
        rows.append(
            BacktestRow(
                period=past.label,
                as_of=past.start,
                method=method,
                expected=round(run.won_to_date + float(amounts @ probability), 2),
                p10=round(p10, 2),
                p50=round(p50, 2),
                p90=round(p90, 2),
                actual=round(actual, 2),
                won_all=round(won_all, 2),
                error=round(p50 - actual, 2),
                ape=round(abs(p50 - actual) / actual, 4) if actual > 0 else None,
                inside=p10 <= actual <= p90,
            )
        )
    return rows


def score(method: str, rows: list[BacktestRow]) -> MethodScore:
    """MAPE of P50, coverage of P10-P90 and bias of one method's rows."""
    mine = [r for r in rows if r.method == method]
    errors = [r.ape for r in mine if r.ape is not None]
    return MethodScore(
        method=method,
        periods=len(mine),
        mape=round(float(np.mean(errors)), 4) if errors else None,
        coverage=round(sum(r.inside for r in mine) / len(mine), 4),
        bias=round(float(np.mean([r.error for r in mine])), 2),
    )


def backtest(
    history: History, period: Period, *, periods: int, now: datetime, trials: int, seed: int | None
) -> Backtest:
    """Re-run both methods as of the start of each of the ``periods`` periods before ``period``."""
    if not 1 <= periods <= MAX_PERIODS:
        raise InvalidInput(f"must be between 1 and {MAX_PERIODS} (got {periods})", field="--periods")
    seed = secrets.randbits(32) if seed is None else seed
    rows: list[BacktestRow] = []
    skipped: list[str] = []
    for back in range(periods, 0, -1):
        past = period.previous(back)
        if past.end > now:
            skipped.append(f"{past.label} has not ended")
        elif not history.closed_before(past.start.timestamp()):
            skipped.append(f"{past.label}: no closed deals before {moment_text(past.start)}")
        else:
            rows += _rows(history, past, trials=trials, seed=seed)
    if not rows:
        raise InvalidInput(f"nothing to back-test before {period.label}: {'; '.join(skipped)}", field="--periods")
    return Backtest(
        period=period.label,
        trials=trials,
        seed=seed,
        rows=rows,
        scores=[score(method, rows) for method in ("history", "naive")],
        skipped=skipped,
    )


def backtest_periods(
    connection: Connection,
    *,
    period: Period,
    periods: int,
    now: datetime,
    trials: int,
    seed: int | None = None,
    process: str | None = None,
) -> Backtest:
    """The back-test of the ``periods`` periods before ``period`` on the workspace's history."""
    check_trials(trials)
    if process is not None:
        load_process(connection, key=process)
    history, _calls = load_history(connection, process=process)
    return backtest(history, period, periods=periods, now=now, trials=trials, seed=seed)
