"""What the finished stage stays say: time in stage, service-level breaches, and how deals moved
(skips, backward moves, handoffs sent back, overrides), read in one grouped pass over
``stage_visits`` (on PostgreSQL the percentiles of time in stage come from the same pass, on an
index that keeps each stage's stays in order of duration; elsewhere from a pass of their own).

Over all time, with no filter and no slicing, the stays are not read one by one: their counts by
stage, exit, override and hour of duration (``stay_durations``) give the tallies, and each exact
percentile is read off the stays index from the start of the hour that holds its rank
(:func:`_whole`).

A stay counts in the period when it *ended* in it (``left_at``). The stay a deal is in now is not
finished and never counts in time in stage; it counts only in "open deals past the SLA".
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, case, false, func, or_, select

from dealflow.analytics.percentiles import percentiles, within_groups
from dealflow.analytics.scope import Rows, Scope
from dealflow.store import tables as t
from dealflow.store.stay_summaries import hour_of, hour_start

DAY = 86_400.0
MOVES = ("forward", "skip", "backward", "returned")
QUANTILES = (0.5, 0.8)
_TALLIES = ("forward", "skip", "backward", "returned", "won", "lost", "disqualified")


class StageTime(BaseModel):
    """Time spent in one stage over its finished stays, and the stays that broke its SLA."""

    model_config = ConfigDict(frozen=True)

    stage: str
    name: str
    stays: int = 0
    median_days: float | None = None
    p80_days: float | None = None
    sla_days: float | None = None
    sla_breaches: int = 0
    open_past_sla: int = 0


class Moves(BaseModel):
    """How finished stays ended: moves between stages (and of what kind) and closes."""

    model_config = ConfigDict(frozen=True)

    moves: int = 0
    forward: int = 0
    skips: int = 0
    backward: int = 0
    returned: int = 0
    overrides: int = 0
    skip_share: float | None = None
    backward_share: float | None = None
    override_share: float | None = None


class StageFigures(BaseModel):
    """Everything read off the stays of one slice."""

    model_config = ConfigDict(frozen=True)

    time_in_stage: list[StageTime]
    sla_breaches: int = 0
    open_past_sla: int = 0
    moves: Moves = Moves()


def _sla_seconds(scope: Scope) -> dict[str, float]:
    return {s.key: s.sla.total_seconds() for s in scope.process.stages if s.sla is not None}


def measure_stays(connection: Connection, scope: Scope) -> dict[Any, StageFigures]:
    """Time in stage, SLA breaches and moves of each slice."""
    if scope.whole:
        return _whole(connection, scope)
    v = t.stage_visits
    source, conditions, key = scope.frame(v, Rows(owner=v.c.owner, stage=v.c.stage, deal_id=v.c.deal_id))
    limits = _sla_seconds(scope)
    limit = case(limits, value=v.c.stage, else_=None) if limits else None
    breached = v.c.seconds > limit if limit is not None else false()
    tallies = [func.count().filter(v.c.exit == name) for name in _TALLIES]
    spread_columns = within_groups(connection, v.c.seconds, QUANTILES)
    where = [v.c.process == scope.process.key, scope.within(v.c.left_at), *conditions]
    query = (
        select(
            key.label("k"),
            v.c.stage,
            func.count(),
            func.count().filter(breached),
            func.count().filter(v.c.overridden),
            *tallies,
            *spread_columns,
        )
        .select_from(source)
        .where(*where)
        .group_by(*scope.groups(key), v.c.stage)
    )
    stays: dict[Any, dict[str, tuple[int, ...]]] = {}
    spread: dict[tuple[Any, Any], list[float]] = {}
    for k, stage, *figures in connection.execute(query):
        counts = figures[: len(figures) - len(spread_columns)]
        stays.setdefault(k, {})[stage] = tuple(int(c) for c in counts)
        if spread_columns:
            spread[(k, stage)] = [float(x) for x in figures[len(counts) :]]
    if not spread_columns:
        rows = select(key.label("k"), v.c.stage.label("g"), v.c.seconds.label("x")).select_from(source).where(*where)
        spread = percentiles(connection, rows, QUANTILES)
    late = _open_past_sla(connection, scope)
    keys = set(stays) | set(late)
    return {k: _figures(scope, stays.get(k, {}), spread, late.get(k, {}), k) for k in keys}


def _whole(connection: Connection, scope: Scope) -> dict[Any, StageFigures]:
    """Time in stage, SLA breaches and moves of every stay of the process, from the stays' counts."""
    d = t.stay_durations
    of = d.c.process == scope.process.key
    ended = select(d.c.stage, d.c.exit, d.c.overridden, func.sum(d.c.stays))
    tallies: dict[str, list[int]] = {}
    column = {name: 1 + i for i, name in enumerate(_TALLIES)}
    for stage, exit_kind, overridden, count in connection.execute(
        ended.where(of).group_by(d.c.stage, d.c.exit, d.c.overridden)
    ).all():
        tally = tallies.setdefault(stage, [0] * (1 + len(_TALLIES)))
        if exit_kind in column:
            tally[column[exit_kind]] += int(count)
        if overridden:
            tally[0] += int(count)
    per_hour: dict[str, list[tuple[int, int]]] = {}
    lasted = select(d.c.stage, d.c.hour, func.sum(d.c.stays)).where(of).group_by(d.c.stage, d.c.hour)
    for stage, hour, count in connection.execute(lasted).all():
        per_hour.setdefault(stage, []).append((hour, int(count)))
    limits = _sla_seconds(scope)
    stays: dict[str, tuple[int, ...]] = {}
    spread: dict[tuple[Any, Any], list[float]] = {}
    for stage, found in per_hour.items():
        counts = sorted(found)
        total = sum(count for _, count in counts)
        breaches = _breaches(connection, scope, stage, counts, limits.get(stage))
        stays[stage] = (total, breaches, *tallies[stage])
        spread[(None, stage)] = [_ranked(connection, scope, stage, counts, total, q) for q in QUANTILES]
    late = _open_past_sla(connection, scope)
    if not stays and not late:
        return {}
    return {None: _figures(scope, stays, spread, late.get(None, {}), None)}


def _in_stage(scope: Scope, stage: str) -> list[ColumnElement[bool]]:
    v = t.stage_visits
    return [v.c.process == scope.process.key, v.c.stage == stage]


def _breaches(
    connection: Connection, scope: Scope, stage: str, counts: list[tuple[int, int]], limit: float | None
) -> int:
    """Stays longer than ``limit``: those of the hours that start past it, and those of the hour
    that holds it counted on the index."""
    if limit is None:
        return 0
    v, held = t.stage_visits, hour_of(limit)
    later = sum(count for hour, count in counts if hour > held)
    if not any(hour == held for hour, _ in counts):
        return later
    end = hour_start(held + 1)
    query = select(func.count()).where(*_in_stage(scope, stage), v.c.seconds > limit, v.c.seconds < end)
    return later + int(connection.execute(query).scalar_one())


def _ranked(
    connection: Connection, scope: Scope, stage: str, counts: list[tuple[int, int]], total: int, q: float
) -> float:
    """The ``q`` percentile of a stage's stays as ``percentile_cont`` gives it: the values at ranks
    floor(h) and ceil(h), h = (n - 1) * q, read from the start of the hour that holds floor(h)."""
    h = (total - 1) * q
    low = math.floor(h)
    before, hour = 0, counts[0][0]
    for hour, count in counts:  # noqa: B007 (the hour that holds the rank is the one it stops at)
        if before + count > low:
            break
        before += count
    v, start = t.stage_visits, hour_start(hour)
    query = select(v.c.seconds).where(*_in_stage(scope, stage)).order_by(v.c.seconds)
    if start is not None:
        query = query.where(v.c.seconds >= start)
    values = connection.execute(query.offset(low - before).limit(2)).scalars().all()
    first = float(values[0])
    if math.ceil(h) == low:
        return first
    return first + (h - low) * (float(values[1]) - first)


def no_stays(scope: Scope) -> StageFigures:
    """The figures of a slice with no stays at all."""
    return _figures(scope, {}, {}, {}, None)


def _open_past_sla(connection: Connection, scope: Scope) -> dict[Any, dict[str, int]]:
    """Open deals now in a stage for longer than its SLA, by slice and stage."""
    d = t.deals
    limits = _sla_seconds(scope)
    if not limits:
        return {}
    source, conditions, key = scope.frame(d, Rows(owner=d.c.owner, stage=d.c.stage, deal=d))
    past: list[ColumnElement[bool]] = [
        (d.c.stage == stage) & (d.c.stage_entered_at < scope.now - timedelta(seconds=seconds))
        for stage, seconds in limits.items()
    ]
    query = (
        select(key.label("k"), d.c.stage, func.count())
        .select_from(source)
        .where(d.c.process == scope.process.key, d.c.status == "open", or_(*past), *conditions)
        .group_by(*scope.groups(key), d.c.stage)
    )
    found: dict[Any, dict[str, int]] = {}
    for k, stage, count in connection.execute(query):
        found.setdefault(k, {})[stage] = int(count)
    return found


def _figures(
    scope: Scope,
    stays: dict[str, tuple[int, ...]],
    spread: dict[tuple[Any, Any], list[float]],
    late: dict[str, int],
    k: Any,
) -> StageFigures:
    limits = _sla_seconds(scope)
    times = []
    for stage in scope.process.stages:
        count, breaches, *_ = stays.get(stage.key, (0, 0))
        median, p80 = spread.get((k, stage.key), (None, None))
        times.append(
            StageTime(
                stage=stage.key,
                name=stage.name,
                stays=count,
                median_days=None if median is None else median / DAY,
                p80_days=None if p80 is None else p80 / DAY,
                sla_days=limits[stage.key] / DAY if stage.key in limits else None,
                sla_breaches=breaches,
                open_past_sla=late.get(stage.key, 0),
            )
        )
    total = [sum(c) for c in zip(*stays.values(), strict=True)] if stays else [0] * (3 + len(_TALLIES))
    tally = dict(zip(_TALLIES, total[3:], strict=True))
    moves = sum(tally[name] for name in MOVES)
    return StageFigures(
        time_in_stage=times,
        sla_breaches=sum(s.sla_breaches for s in times),
        open_past_sla=sum(s.open_past_sla for s in times),
        moves=Moves(
            moves=moves,
            forward=tally["forward"],
            skips=tally["skip"],
            backward=tally["backward"],
            returned=tally["returned"],
            overrides=total[2],
            skip_share=tally["skip"] / moves if moves else None,
            backward_share=tally["backward"] / moves if moves else None,
            override_share=total[2] / moves if moves else None,
        ),
    )
