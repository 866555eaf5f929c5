"""Deal outcomes: open pipeline, won / lost / disqualified, win rate, deal size, sales cycle,
velocity and coverage, read from the ``deals`` table in one grouped pass (plus one for the
cycle's percentiles). Over all time with no filter or slicing only the open and the won deals are
read; how many were lost or disqualified comes from the deals' journeys (:mod:`journeys`)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, case, distinct, func, select

from dealflow.analytics.journeys import Journey, deals_by_status, read_journeys
from dealflow.analytics.percentiles import elapsed_seconds, interval_seconds, percentiles, ranked
from dealflow.analytics.scope import Rows, Scope
from dealflow.store import tables as t

DAY = 86_400.0
CENT = Decimal("0.01")


class Outcomes(BaseModel):
    """What happened to the deals: how many are open, won, lost; how big and how fast."""

    model_config = ConfigDict(frozen=True)

    deals_open: int = 0
    open_amount: Decimal = Decimal(0)
    deals_won: int = 0
    deals_lost: int = 0
    deals_disqualified: int = 0
    won_amount: Decimal = Decimal(0)
    win_rate: float | None = None
    avg_won_amount: Decimal | None = None
    cycle_days_median: float | None = None
    cycle_days_p80: float | None = None
    cycle_days_mean: float | None = None
    sales_velocity_per_day: Decimal | None = None
    pipeline_coverage: float | None = None


def deal_rows(scope: Scope) -> Rows:
    """Deals reach the dimensions through their owner and stage; a won deal through the owner who won
    it and the stage it was won from, not the post-sale owner and stage it was handed on to."""
    d = t.deals
    return Rows(owner=_as_won(d.c.owner, "owner"), stage=_as_won(d.c.stage, "stage"), deal=d)


def _as_won(column: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    d, v = t.deals, t.stage_visits
    won = select(v.c[name]).where(v.c.deal_id == d.c.id, v.c.exit == "won").limit(1).scalar_subquery()
    return case((d.c.status == "won", func.coalesce(won, column)), else_=column)


def open_at_end(scope: Scope) -> ColumnElement[bool]:
    """The deal was open at the end of the period (or now, when the period has not ended)."""
    d = t.deals
    if scope.period is None or scope.period.end > scope.now:
        return d.c.status == "open"
    end = scope.period.end
    return (d.c.created_at < end) & (d.c.closed_at.is_(None) | (d.c.closed_at >= end))


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _total(condition: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.sum(case((condition, value), else_=None))


def measure_outcomes(
    connection: Connection, scope: Scope, *, target: Decimal | None, journeys: list[Journey] | None = None
) -> dict[Any, Outcomes]:
    """The outcome figures of each slice (key None when not sliced); over all time, the closed deals
    are counted from ``journeys`` when given, else read."""
    if scope.whole:
        return {
            None: _whole(connection, scope, target, read_journeys(connection, scope) if journeys is None else journeys)
        }
    d = t.deals
    source, conditions, key = scope.frame(d, deal_rows(scope))
    opened = open_at_end(scope)
    closed_in = scope.within(d.c.closed_at)
    won = (d.c.status == "won") & closed_in
    cycle = elapsed_seconds(connection, d.c.created_at, d.c.closed_at)
    query = (
        select(
            key.label("k"),
            _count(opened),
            _total(opened, d.c.amount),
            _count(won),
            _count((d.c.status == "lost") & closed_in),
            _count((d.c.status == "disqualified") & closed_in),
            _total(won, d.c.amount),
            _count(won & d.c.amount.is_not(None)),
            _total(won, cycle),
        )
        .select_from(source)
        .where(d.c.process == scope.process.key, *conditions)
        .group_by(*scope.groups(key))
    )
    cycles = _cycle_percentiles(connection, scope)
    found: dict[Any, Outcomes] = {}
    for k, n_open, open_amount, n_won, n_lost, n_disq, won_amount, n_amounts, cycle_total in connection.execute(query):
        median, p80 = cycles.get(k, (None, None))
        found[k] = _figures(
            n_open=int(n_open),
            open_amount=Decimal(open_amount or 0),
            n_won=int(n_won),
            n_lost=int(n_lost),
            n_disq=int(n_disq),
            won_amount=Decimal(won_amount or 0),
            n_amounts=int(n_amounts),
            cycle_mean=None if not n_won or cycle_total is None else float(cycle_total) / n_won / DAY,
            median=median,
            p80=p80,
            target=target,
        )
    return found


def measure_reopened(connection: Connection, scope: Scope) -> dict[Any, int]:
    """How many deals of each slice were reopened in the period (all time without one): a reopened
    deal stays one deal, counted once however often it was reopened."""
    d, r = t.deals, t.reopenings
    source, conditions, key = scope.frame(d, deal_rows(scope))
    query = (
        select(key.label("k"), func.count(distinct(r.c.deal_id)))
        .select_from(source.join(r, r.c.deal_id == d.c.id))
        .where(d.c.process == scope.process.key, scope.within(r.c.at), *conditions)
        .group_by(*scope.groups(key))
    )
    return {k: int(n) for k, n in connection.execute(query)}


def _whole(connection: Connection, scope: Scope, target: Decimal | None, journeys: list[Journey]) -> Outcomes:
    """The outcomes of every deal of the process: the open and won deals read (on the index that
    carries their amounts and times), the lost and disqualified ones counted from the journeys."""
    d = t.deals
    of = d.c.process == scope.process.key
    n_open, open_amount = connection.execute(
        select(func.count(), func.sum(d.c.amount)).where(of, d.c.status == "open")
    ).one()
    won = select(func.count(), func.sum(d.c.amount), func.count(d.c.amount)).where(of, d.c.status == "won")
    if connection.dialect.name == "postgresql":
        # The won deals' cycles as one binary array of intervals: worked out exactly as the general
        # query's (integer microseconds, in seconds) without a numeric per deal in SQL.
        cycle = d.c.closed_at - d.c.created_at
        sent = func.array_send(func.array_agg(cycle).filter(d.c.closed_at.is_not(None)))
        n_won, won_amount, n_amounts, intervals = connection.execute(won.add_columns(sent)).one()
        cycles = np.sort(interval_seconds(intervals))
        cycle_total = math.fsum(cycles.tolist()) if cycles.size else None
        median, p80 = (None, None) if not cycles.size else (ranked(cycles, 0.5) / DAY, ranked(cycles, 0.8) / DAY)
    else:
        cycle = elapsed_seconds(connection, d.c.created_at, d.c.closed_at)
        n_won, won_amount, n_amounts, cycle_total = connection.execute(won.add_columns(func.sum(cycle))).one()
        median, p80 = _cycle_percentiles(connection, scope).get(None, (None, None))
    ended = deals_by_status(journeys)
    return _figures(
        n_open=int(n_open),
        open_amount=Decimal(open_amount or 0),
        n_won=int(n_won),
        n_lost=ended["lost"],
        n_disq=ended["disqualified"],
        won_amount=Decimal(won_amount or 0),
        n_amounts=int(n_amounts),
        cycle_mean=None if not n_won or cycle_total is None else float(cycle_total) / n_won / DAY,
        median=median,
        p80=p80,
        target=target,
    )


def _cycle_percentiles(connection: Connection, scope: Scope) -> dict[Any, tuple[float | None, float | None]]:
    d = t.deals
    source, conditions, key = scope.frame(d, deal_rows(scope))
    cycle = elapsed_seconds(connection, d.c.created_at, d.c.closed_at)
    rows = (
        select(key.label("k"), d.c.status.label("g"), cycle.label("x"))
        .select_from(source)
        .where(d.c.process == scope.process.key, d.c.status == "won", scope.within(d.c.closed_at), *conditions)
    )
    return {k: (median / DAY, p80 / DAY) for (k, _), (median, p80) in percentiles(connection, rows, (0.5, 0.8)).items()}


def _figures(
    *,
    n_open: int,
    open_amount: Decimal,
    n_won: int,
    n_lost: int,
    n_disq: int,
    won_amount: Decimal,
    n_amounts: int,
    cycle_mean: float | None,
    median: float | None,
    p80: float | None,
    target: Decimal | None,
) -> Outcomes:
    win_rate = n_won / (n_won + n_lost) if n_won + n_lost else None
    average = (won_amount / n_amounts).quantize(CENT) if n_amounts else None
    velocity = None
    if win_rate is not None and average is not None and median:
        rate = Decimal(n_won) / Decimal(n_won + n_lost)
        velocity = (Decimal(n_open) * rate * average / Decimal(repr(median))).quantize(CENT)
    return Outcomes(
        deals_open=n_open,
        open_amount=open_amount.quantize(CENT),
        deals_won=n_won,
        deals_lost=n_lost,
        deals_disqualified=n_disq,
        won_amount=won_amount.quantize(CENT),
        win_rate=win_rate,
        avg_won_amount=average,
        cycle_days_median=median,
        cycle_days_p80=p80,
        cycle_days_mean=cycle_mean,
        sales_velocity_per_day=velocity,
        pipeline_coverage=None if target is None else float(open_amount / target),
    )
