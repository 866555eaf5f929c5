"""The metrics of a sales process, read from the state tables: conversion, speed, outcomes and
the quality of transitions, for the whole scope and, when asked, for each value of a dimension.

Each group of figures lives in its own module (:mod:`outcomes`, :mod:`funnel`, :mod:`stays`,
:mod:`handoff_quality`, :mod:`next_steps`, :mod:`follow_up`); docs/metrics.md defines every one.

Everything is aggregated in SQL, grouped by stage and slice, and only small results come back:
counts and sums with CASE expressions, and percentiles with ``percentile_cont`` on PostgreSQL or
window-function ranks elsewhere (see :mod:`dealflow.analytics.percentiles`). A sliced run costs
the same passes as an unsliced one, plus one unsliced run for the totals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, text

from dealflow.analytics.follow_up import FollowUp, measure_follow_up
from dealflow.analytics.funnel import StageConversion, funnel_of, measure_funnel
from dealflow.analytics.handoff_quality import HandoffQuality, measure_handoffs
from dealflow.analytics.journeys import read_journeys
from dealflow.analytics.next_steps import NextStepCompliance, measure_next_steps
from dealflow.analytics.outcomes import Outcomes, measure_outcomes, measure_reopened
from dealflow.analytics.periods import Period
from dealflow.analytics.scope import DIMENSIONS, Scope
from dealflow.analytics.stays import Moves, StageTime, measure_stays, no_stays
from dealflow.errors import InvalidInput
from dealflow.store.processes import named_or_default_process

# Per sort or hash table of a PostgreSQL metrics run: a million deals fold into groups that the
# default 4 MB would spill to disk.
WORK_MEM = "64MB"
TIME_IN_STAGE_BASIS = "finished stays only (stage_visits); the stay a deal is in now is not counted"


class MetricSet(Outcomes):
    """Every metric of one scope (the whole run, or one slice of it)."""

    deals_reopened: int = 0
    stage_conversion: tuple[StageConversion, ...] = ()
    time_in_stage: tuple[StageTime, ...] = ()
    sla_breaches: int = 0
    open_past_sla: int = 0
    moves: Moves = Moves()
    handoffs: HandoffQuality = HandoffQuality()
    next_steps: NextStepCompliance = NextStepCompliance()
    follow_up: FollowUp = FollowUp()


class Slice(MetricSet):
    """The metrics of the deals with one value of the slicing dimension (None: no value)."""

    value: str | None


class PeriodPublic(BaseModel):
    """The period a run covers, half-open [start, end) in UTC."""

    model_config = ConfigDict(frozen=True)

    label: str
    start: datetime
    end: datetime


class Metrics(MetricSet):
    """A metrics run: what it covered, the totals, and one block per slice value when sliced."""

    process: str
    process_version: int
    period: PeriodPublic | None = None
    as_of: datetime
    filters: dict[str, str] = Field(default_factory=dict)
    by: str | None = None
    target: Decimal | None = None
    time_in_stage_basis: str = TIME_IN_STAGE_BASIS
    slices: tuple[Slice, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The run as JSON-ready data, what it covered first."""
        data = self.model_dump(mode="json")
        first = ("process", "process_version", "period", "as_of", "filters", "by", "target")
        return {**{k: data[k] for k in first}, **{k: v for k, v in data.items() if k not in first}}


def compute_metrics(
    connection: Connection,
    *,
    process: str | None,
    period: Period | None,
    slice_by: str | None,
    filters: Mapping[str, str | None],
    now: datetime,
    target: Decimal | None,
) -> Metrics:
    """Every metric of ``process`` (the only installed one when None) over ``period`` (all time when
    None) for the deals matching ``filters``, as of ``now``; with one block per value of ``slice_by``."""
    if slice_by is not None and slice_by not in DIMENSIONS:
        raise InvalidInput(f"cannot slice by {slice_by!r} (choose {', '.join(DIMENSIONS)})", field="by")
    if target is not None and not target > 0:
        raise InvalidInput(f"the target must be an amount above 0, got {target}", field="target")
    chosen = named_or_default_process(connection, process)
    given = {name: value for name, value in filters.items() if value is not None}
    scope = Scope(process=chosen, period=period, now=now, filters=given, by=slice_by)
    slices = []
    with _memory_for_aggregates(connection):
        totals = _measure(connection, scope.unsliced(), target).get(None) or _empty(scope, target)
        if scope.sliced:
            found = _measure(connection, scope, target)
            for value in sorted(found, key=lambda v: (v is None, str(v))):
                slices.append(Slice(value=None if value is None else str(value), **_fields(found[value])))
    return Metrics(
        **_fields(totals),
        process=chosen.key,
        process_version=chosen.version,
        period=None if period is None else PeriodPublic(label=period.label, start=period.start, end=period.end),
        as_of=now,
        filters=given,
        by=slice_by,
        target=target,
        slices=slices,
    )


@contextmanager
def _memory_for_aggregates(connection: Connection) -> Iterator[None]:
    """On PostgreSQL, ``WORK_MEM`` for the queries of a metrics run, then the setting as it was
    (``set_config`` local to the transaction, so nothing outlasts it)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    before = connection.execute(text("SELECT current_setting('work_mem')")).scalar()
    connection.execute(text("SELECT set_config('work_mem', :value, true)"), {"value": WORK_MEM})
    yield
    connection.execute(text("SELECT set_config('work_mem', :value, true)"), {"value": before})


def _fields(found: MetricSet) -> dict[str, Any]:
    return {name: getattr(found, name) for name in MetricSet.model_fields}


def _empty(scope: Scope, target: Decimal | None) -> MetricSet:
    return MetricSet(
        stage_conversion=funnel_of(scope, {}),
        time_in_stage=no_stays(scope).time_in_stage,
        pipeline_coverage=0.0 if target is not None else None,
    )


def _measure(connection: Connection, scope: Scope, target: Decimal | None) -> dict[Any, MetricSet]:
    """Every metric of each slice value found in any of the groups (key None when not sliced)."""
    journeys = read_journeys(connection, scope) if scope.whole else None
    outcomes = measure_outcomes(connection, scope, target=target, journeys=journeys)
    funnels = measure_funnel(connection, scope, journeys=journeys)
    stays = measure_stays(connection, scope)
    handoffs = measure_handoffs(connection, scope)
    next_steps = measure_next_steps(connection, scope)
    follow_up = measure_follow_up(connection, scope, journeys=journeys)
    reopened = measure_reopened(connection, scope)
    keys = set(outcomes) | set(funnels) | set(stays) | set(handoffs) | set(next_steps) | set(follow_up)
    found = {}
    for k in keys:
        figures = stays.get(k) or no_stays(scope)
        base = outcomes.get(k) or Outcomes(pipeline_coverage=0.0 if target is not None else None)
        found[k] = MetricSet(
            **base.model_dump(),
            deals_reopened=reopened.get(k, 0),
            stage_conversion=funnels.get(k) or funnel_of(scope, {}),
            time_in_stage=figures.time_in_stage,
            sla_breaches=figures.sla_breaches,
            open_past_sla=figures.open_past_sla,
            moves=figures.moves,
            handoffs=handoffs.get(k) or HandoffQuality(),
            next_steps=next_steps.get(k) or NextStepCompliance(),
            follow_up=follow_up.get(k) or FollowUp(),
        )
    return found
