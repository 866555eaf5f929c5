"""A period's forecast as of a moment: each open deal's probability, the simulated total, the
commit and best-case views, the reps' calls beside the model; and the back-test that re-runs it
as of the start of earlier periods."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel
from sqlalchemy import Connection

from dealflow.analytics.forecast import Floats, History, Ints, WinModel, fit, naive_rates, open_stays, window_for
from dealflow.analytics.forecast_history import CATEGORIES, Calls, load_history
from dealflow.analytics.forecast_rows import DealRows, DealRowsField
from dealflow.analytics.forecast_simulation import Simulation, simulate
from dealflow.analytics.periods import Period
from dealflow.errors import InvalidInput
from dealflow.store.processes import load_process

MIN_TRIALS, MAX_TRIALS = 100, 1_000_000
COMMIT_AT, BEST_CASE_AT = 0.7, 0.4
DAY = 86_400.0


def check_trials(trials: int) -> None:
    """Refuse a number of trials too small to read percentiles from, or too large to run."""
    if not MIN_TRIALS <= trials <= MAX_TRIALS:
        raise InvalidInput(f"must be between {MIN_TRIALS:,} and {MAX_TRIALS:,} (got {trials:,})", field="--trials")


def moment_text(moment: datetime) -> str:
    """A moment as people write it: the date alone at midnight UTC."""
    moment = moment.astimezone(UTC)
    return moment.date().isoformat() if moment.time() == datetime.min.time() else f"{moment:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Run:
    """One forecast computed as of a moment, as arrays (one entry per deal open then)."""

    period: Period
    as_of: datetime
    deals: Ints
    stages: Ints
    owners: Ints
    age: Floats
    probability: Floats
    naive: Floats
    won_to_date: float
    model: WinModel
    naive_rates: Floats
    history_simulation: Simulation
    naive_simulation: Simulation

    def amounts(self, history: History) -> Floats:
        """The amount of each open deal (0 when it has none)."""
        return history.amount[self.deals]

    def actual(self, history: History) -> float:
        """What was won in the period from the deals this forecast covers (won by then or open then)."""
        at, start, end = self.as_of.timestamp(), self.period.start.timestamp(), self.period.end.timestamp()
        covered = (history.closed <= at) | np.isin(np.arange(history.closed.size), self.deals)
        hit = covered & history.won & (history.closed >= start) & (history.closed < end)
        return float(history.amount[hit].sum())


def compute(history: History, period: Period, as_of: datetime, *, trials: int, seed: int | None) -> Run:
    """Both methods' forecast of ``period`` as of ``as_of``, from what was known then."""
    check_trials(trials)
    if as_of >= period.end:
        raise InvalidInput(
            f"{period.label} ended on {moment_text(period.end)}: nothing is left to forecast as of "
            f"{moment_text(as_of)} (see `dealflow forecast score` or --backtest)",
            field="--as-of",
        )
    at = as_of.timestamp()
    if not history.closed_before(at):
        raise InvalidInput(f"no closed deals before {moment_text(as_of)}: a forecast needs history")
    stays = open_stays(history, at)
    deals, stages = history.stay_deal[stays], history.stay_stage[stays]
    age = at - history.entered[stays]
    model = fit(history, at, window_for(at, period.start.timestamp(), period.end.timestamp()))
    rates = naive_rates(history, at)
    probability, naive = model.probability(stages, age), rates[stages]
    start = period.start.timestamp()
    won = history.won & (history.closed >= start) & (history.closed <= at)
    won_to_date = float(history.amount[won].sum())
    amounts = history.amount[deals]
    first = simulate(amounts, probability, trials=trials, seed=seed, base=won_to_date)
    second = simulate(amounts, naive, trials=trials, seed=first.seed, base=won_to_date)
    return Run(
        period, as_of, deals, stages, history.stay_owner[stays], age, probability, naive, won_to_date,
        model, rates, first, second,
    )  # fmt: skip


class Distribution(BaseModel):
    """One method's forecast of the period total: the exact expectation and simulated percentiles."""

    method: str
    expected: float
    p10: float
    p50: float
    p90: float


def distribution(method: str, expected: float, simulation: Simulation) -> Distribution:
    """The summary of one method's simulation."""
    p10, p50, p90 = simulation.percentiles()
    return Distribution(
        method=method, expected=round(expected, 2), p10=round(p10, 2), p50=round(p50, 2), p90=round(p90, 2)
    )


class View(BaseModel):
    """Commit or best case: won to date plus the amount of the deals the rule picks."""

    name: str
    amount: float
    deals: int
    rule: str


class CallRow(BaseModel):
    """The deals reps put in one forecast category, with what the model expects of them."""

    category: str
    deals: int
    amount: float
    model_expected: float
    model_probability: float | None


class RepProbabilities(BaseModel):
    """The deals with a probability called by their rep: the rep's expectation beside the model's."""

    deals: int
    rep_expected: float
    model_expected: float


class Bucket(BaseModel):
    """One row of the probability table: a stage's age bucket and what history says of it."""

    stage: str
    from_days: float
    samples: int
    observed: float | None
    probability: float
    naive: float


class Forecast(BaseModel):
    """A period's forecast as of a moment."""

    period: str
    start: datetime
    end: datetime
    as_of: datetime
    process: str | None
    trials: int
    seed: int
    simulation: str
    won_to_date: float
    open_deals: int
    without_amount: int
    history: Distribution
    naive: Distribution
    commit: View
    best_case: View
    calls: list[CallRow]
    rep_probabilities: RepProbabilities | None
    buckets: list[Bucket]
    deals: DealRowsField

    def json_text(self, indent: int | None = None) -> str:
        """The forecast as JSON: what ``json.dumps`` writes for ``model_dump(mode="json")`` (with
        ``ensure_ascii=False``, and ``indent`` or else the compact separators ``,`` and ``:``), the
        deals' rows written from their columns (:meth:`DealRows.json_text`)."""
        compact = None if indent else (",", ":")
        if self.deals.built():
            return json.dumps(self.model_dump(mode="json"), indent=indent, ensure_ascii=False, separators=compact)
        head = self.model_dump(mode="json", exclude={"deals"})
        text = json.dumps({**head, "deals": []}, indent=indent, ensure_ascii=False, separators=compact)
        end = text.rindex("[]")  # the deals, the last field
        return self.deals.json_text(indent, before=text[:end], after=text[end + 2 :])


def views(run: Run, history: History, called: list[str | None]) -> tuple[View, View]:
    """Commit and best case: by the reps' calls when any is recorded, else by the model's probability."""
    amounts = run.amounts(history)
    if called.count(None) < len(called):
        categories = np.array(called, dtype=object)
        commit = categories == "commit"
        best = commit | (categories == "best_case")
        rules = ("reps' calls: forecast_category commit", "reps' calls: forecast_category commit or best_case")
    else:
        commit, best = run.probability >= COMMIT_AT, run.probability >= BEST_CASE_AT
        rules = (
            f"model probability >= {COMMIT_AT:.2f} (no forecast_category recorded)",
            f"model probability >= {BEST_CASE_AT:.2f} (no forecast_category recorded)",
        )
    return tuple(  # type: ignore[return-value]
        View(
            name=name,
            amount=round(run.won_to_date + float(amounts[chosen].sum()), 2),
            deals=int(chosen.sum()),
            rule=rule,
        )
        for name, chosen, rule in (("commit", commit, rules[0]), ("best_case", best, rules[1]))
    )


def _calls(run: Run, history: History, called: list[str | None]) -> list[CallRow]:
    if called.count(None) == len(called):
        return []
    amounts = run.amounts(history)
    categories = np.array(called, dtype=object)
    rows = []
    for category in (*CATEGORIES, None):
        chosen = np.array([c is None for c in called]) if category is None else categories == category
        if category is None and not chosen.any():
            continue
        rows.append(
            CallRow(
                category=category or "not called",
                deals=int(chosen.sum()),
                amount=round(float(amounts[chosen].sum()), 2),
                model_expected=round(float((amounts * run.probability)[chosen].sum()), 2),
                model_probability=round(float(run.probability[chosen].mean()), 4) if chosen.any() else None,
            )
        )
    return rows


def _rep_probabilities(run: Run, history: History, called: Floats) -> RepProbabilities | None:
    chosen = ~np.isnan(called)
    if not chosen.any():
        return None
    amounts = run.amounts(history)
    return RepProbabilities(
        deals=int(chosen.sum()),
        rep_expected=round(float((amounts * np.where(chosen, called, 0.0))[chosen].sum()), 2),
        model_expected=round(float((amounts * run.probability)[chosen].sum()), 2),
    )


def _buckets(run: Run, history: History) -> list[Bucket]:
    return [
        Bucket(
            stage=history.stages[b.stage],
            from_days=round(b.age / DAY, 2),
            samples=b.samples,
            observed=None if np.isnan(b.observed) else round(b.observed, 4),
            probability=round(b.probability, 4),
            naive=round(float(run.naive_rates[b.stage]), 4),
        )
        for b in run.model.buckets
    ]


def report(run: Run, history: History, calls: Calls, *, process: str | None) -> Forecast:
    """The forecast of a run, ready to print or serialise."""
    at = run.as_of.timestamp()
    known = calls.category_at[run.deals] <= at
    called: list[str | None] = calls.categories_as_of(run.deals, at) if known.any() else [None] * int(run.deals.size)
    rep = calls.probability[run.deals]
    rep = np.where(calls.probability_at[run.deals] <= at, rep, np.nan)  # NaN: no probability called then
    amounts = run.amounts(history)
    commit, best_case = views(run, history, called)
    return Forecast(
        period=run.period.label,
        start=run.period.start,
        end=run.period.end,
        as_of=run.as_of,
        process=process,
        trials=run.history_simulation.totals.size,
        seed=run.history_simulation.seed,
        simulation=run.history_simulation.method,
        won_to_date=round(run.won_to_date, 2),
        open_deals=int(run.deals.size),
        without_amount=int((~history.has_amount[run.deals]).sum()),
        history=distribution("history", run.won_to_date + float(amounts @ run.probability), run.history_simulation),
        naive=distribution("naive", run.won_to_date + float(amounts @ run.naive), run.naive_simulation),
        commit=commit,
        best_case=best_case,
        calls=_calls(run, history, called),
        rep_probabilities=_rep_probabilities(run, history, rep),
        buckets=_buckets(run, history),
        deals=DealRows(
            history,
            deals=run.deals,
            stages=run.stages,
            owners=run.owners,
            age=run.age,
            probability=run.probability,
            naive=run.naive,
            called=called,
            rep=rep,
        ),
    )


def forecast_period(
    connection: Connection,
    *,
    period: Period,
    as_of: datetime,
    trials: int,
    seed: int | None = None,
    process: str | None = None,
) -> tuple[Forecast, Run]:
    """The forecast of ``period`` as of ``as_of`` from the workspace's history (one process, or all)."""
    check_trials(trials)
    if process is not None:
        load_process(connection, key=process)
    history, calls = load_history(connection, process=process)
    run = compute(history, period, as_of, trials=trials, seed=seed)
    return report(run, history, calls, process=process), run
