"""Stage-to-stage conversion as a funnel, by cohort of stage entry.

A deal *entered* a stage when it has a finished stay there (``stage_visits``) or is in it now
(its ``deals`` row; a deal enters its first stage when it is created). The cohort of a stage is
the deals whose first entry into it falls in the period. Of the cohort, a deal *reached the next
stage or further* when one of its stays there ended by moving to a later stage (forward or
skip) or by winning the deal; it *was won* when the deal's status is won. A deal of the cohort
that sits in the stage now is *still there*: not yet converted, and not dropped either, so the
drop-off is the cohort less the deals that moved on and those still there.

Over all time, with no filter and no slicing, the deals are counted from their journeys
(``deal_journeys``: the stages each deal stayed in and left onward, its status and open stage):
one grouped pass over one small row per deal gives a few thousand combinations, which Python
spreads over the stages (:func:`_by_journeys`). Otherwise, on PostgreSQL the cohorts are counted
with one bit per stage: one grouped pass folds each deal's
stays into the masks of the stages it entered (before and in the period) and left onward; joined
to its current stage and its status, the deals are then counted per combination of masks (a few
hundred rows), which Python spreads over the stages. Elsewhere every (deal, stage) pair is its
own group in SQL (:func:`_by_pairs`). Both count the same.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, ColumnElement, Connection, and_, case, func, literal, select, union_all

from dealflow.analytics.journeys import Journey, read_journeys
from dealflow.analytics.scope import Rows, Scope
from dealflow.store import tables as t
from dealflow.store.stay_summaries import ONWARD

MASK_BITS = 31  # sales stages whose entered and onward masks fit in one bigint
Counts = dict[Any, dict[str, tuple[int, int, int, int]]]


class StageConversion(BaseModel):
    """One step of the funnel: how many deals entered a stage, moved on from it, were won."""

    model_config = ConfigDict(frozen=True)

    stage: str
    name: str
    entered: int = 0
    reached_next: int = 0
    still_there: int = 0
    won: int = 0
    conversion: float | None = None
    drop_off: int = 0
    drop_off_rate: float | None = None
    win_rate: float | None = None


def step(stage: str, name: str, entered: int, reached_next: int, still_there: int, won: int) -> StageConversion:
    """A funnel step with its rates worked out (None when nobody entered the stage)."""
    dropped = entered - reached_next - still_there
    return StageConversion(
        stage=stage,
        name=name,
        entered=entered,
        reached_next=reached_next,
        still_there=still_there,
        won=won,
        conversion=reached_next / entered if entered else None,
        drop_off=dropped,
        drop_off_rate=dropped / entered if entered else None,
        win_rate=won / entered if entered else None,
    )


def measure_funnel(
    connection: Connection, scope: Scope, *, journeys: list[Journey] | None = None
) -> dict[Any, list[StageConversion]]:
    """The funnel of each slice over the process's sales stages, in process order (over all time,
    from ``journeys`` when given, else read)."""
    masks = connection.dialect.name == "postgresql" and len(scope.process.sales_stages) <= MASK_BITS
    if scope.whole:
        counts = _by_journeys(scope, read_journeys(connection, scope) if journeys is None else journeys)
    else:
        counts = _by_masks(connection, scope) if masks else _by_pairs(connection, scope)
    return {k: funnel_of(scope, found) for k, found in counts.items()}


def _by_pairs(connection: Connection, scope: Scope) -> Counts:
    """Per slice and stage: (entered, reached next, still there, won), one group per (deal, stage)."""
    v, d = t.stage_visits, t.deals
    stages = [s.key for s in scope.process.sales_stages]
    onward = case((v.c.exit.in_(ONWARD), 1), else_=0)
    stays = select(
        v.c.deal_id, v.c.stage, v.c.owner, v.c.entered_at, onward.label("onward"), literal(0).label("there")
    ).where(v.c.process == scope.process.key, v.c.stage.in_(stages))
    current = select(d.c.id, d.c.stage, d.c.owner, d.c.stage_entered_at, literal(0), literal(1)).where(
        d.c.process == scope.process.key, d.c.status == "open", d.c.stage.in_(stages)
    )
    entries = union_all(stays, current).subquery("entries")
    deal = t.deals.alias("entry_deal")
    joined = entries.join(deal, deal.c.id == entries.c.deal_id)
    source, conditions, key = scope.frame(joined, Rows(owner=entries.c.owner, stage=entries.c.stage, deal=deal))
    first = func.min(entries.c.entered_at)
    per_deal = (
        select(
            key.label("k"),
            entries.c.stage,
            func.max(entries.c.onward).label("onward"),
            func.max(entries.c.there).label("there"),
            func.max(case((deal.c.status == "won", 1), else_=0)).label("won"),
        )
        .select_from(source)
        .where(*conditions)
        .group_by(*scope.groups(key), entries.c.deal_id, entries.c.stage)
        .having(scope.within(first))
        .subquery("per_deal")
    )
    # A deal back in a stage it had left onward counts as moved on, not as still there.
    there = case((per_deal.c.onward == 1, 0), else_=per_deal.c.there)
    query = select(
        per_deal.c.k,
        per_deal.c.stage,
        func.count(),
        func.sum(per_deal.c.onward),
        func.sum(there),
        func.sum(per_deal.c.won),
    ).group_by(per_deal.c.k, per_deal.c.stage)
    counts: Counts = {}
    for k, stage, entered, onward_count, there_count, won in connection.execute(query):
        counts.setdefault(k, {})[stage] = (int(entered), int(onward_count), int(there_count), int(won))
    return counts


def _by_journeys(scope: Scope, journeys: list[Journey]) -> Counts:
    """Per stage: (entered, reached next, still there, won) of every deal of the process, all time,
    from the deals' journeys. A deal entered the stages it stayed in and the one it is in while open."""
    stages = {s.key for s in scope.process.sales_stages}
    found: dict[str, list[int]] = {}
    for journey in journeys:
        open_stage, deals = journey.open_stage, journey.deals
        entered = journey.stayed | ({open_stage} if open_stage is not None else set())
        for stage in entered & stages:
            tally = found.setdefault(stage, [0, 0, 0, 0])
            tally[0] += deals
            if stage in journey.onward:
                tally[1] += deals
            elif stage == open_stage:
                tally[2] += deals
            tally[3] += deals if journey.status == "won" else 0
    return {None: {stage: (a, b, c, e) for stage, (a, b, c, e) in found.items()}} if found else {}


def _by_masks(connection: Connection, scope: Scope) -> Counts:
    """Per slice and stage: (entered, reached next, still there, won), counted from stage masks.

    A deal's pairs with a stage are the bits of its masks: the stages it entered (in the period,
    when there is one), entered before the period, left onward, and the stage it is in now. The
    stays fold into one aggregate per deal: the entered mask in the low bits, the onward mask
    above it (one stage expression and one aggregate per stay)."""
    v, d = t.stage_visits, t.deals
    stages = [s.key for s in scope.process.sales_stages]
    onward_shift = len(stages)
    bits = {stage: literal(1 << i, BigInteger) for i, stage in enumerate(stages)}

    def bit(stage: ColumnElement[Any]) -> ColumnElement[int]:
        return case(bits, value=stage, else_=literal(0, BigInteger))

    def entered(at: ColumnElement[Any]) -> ColumnElement[int]:
        return literal(1, BigInteger) if scope.period is None else case((scope.within(at), 1), else_=0)

    source, conditions, key = scope.frame(v, Rows(owner=v.c.owner, stage=v.c.stage, deal_id=v.c.deal_id))
    onward = case((v.c.exit.in_(ONWARD), literal(1 << onward_shift, BigInteger)), else_=0)
    folded = [func.bit_or(bit(v.c.stage) * (entered(v.c.entered_at) + onward)).label("folded")]
    if scope.period is not None:
        folded.append(func.bit_or(bit(v.c.stage)).filter(v.c.entered_at < scope.period.start).label("before"))
    stays = (
        select(key.label("k"), v.c.deal_id, *folded)
        .select_from(source)
        .where(v.c.process == scope.process.key, *conditions)
        .group_by(*scope.groups(key), v.c.deal_id)
        .subquery("stays")
    )
    source, conditions, key = scope.frame(d, Rows(owner=d.c.owner, stage=d.c.stage, deal=d))
    now_in = [bit(d.c.stage).label("there"), (bit(d.c.stage) * entered(d.c.stage_entered_at)).label("entered")]
    if scope.period is not None:
        now_in.append(case((d.c.stage_entered_at < scope.period.start, bit(d.c.stage)), else_=0).label("before"))
    current = (
        select(key.label("k"), d.c.id.label("deal_id"), *now_in)
        .select_from(source)
        .where(d.c.process == scope.process.key, d.c.status == "open", *conditions)
        .subquery("current")
    )
    won = select(d.c.id).where(d.c.status == "won").subquery("won")
    same = [stays.c.deal_id == current.c.deal_id]
    if scope.sliced:
        # NULL is a slice value too: match it as (is null, value) so that the join stays hashable.
        same += [
            stays.c.k.is_(None) == current.c.k.is_(None),
            func.coalesce(stays.c.k, "") == func.coalesce(current.c.k, ""),
        ]
    deal_id = func.coalesce(stays.c.deal_id, current.c.deal_id)
    joined = stays.join(current, and_(*same), full=True).outerjoin(won, won.c.id == deal_id)
    folded_in = func.coalesce(stays.c.folded, 0)
    masks = [
        folded_in.op("&")((1 << onward_shift) - 1).op("|")(func.coalesce(current.c.entered, 0)).label("entered"),
        func.coalesce(stays.c.before, 0).op("|")(func.coalesce(current.c.before, 0)).label("before")
        if scope.period is not None
        else literal(0, BigInteger).label("before"),
        folded_in.op(">>")(onward_shift).label("onward"),
        func.coalesce(current.c.there, 0).label("there"),
    ]
    pairs = (
        select(func.coalesce(stays.c.k, current.c.k).label("k"), *masks, won.c.id.is_not(None).label("won"))
        .select_from(joined)
        .subquery("pairs")
    )
    columns = [pairs.c.k, pairs.c.entered, pairs.c.before, pairs.c.onward, pairs.c.there, pairs.c.won]
    return _spread(connection.execute(select(*columns, func.count()).group_by(*columns)), stages)


def _spread(rows: Any, stages: list[str]) -> Counts:
    """Per-stage counts from rows of (slice, entered mask, entered-before-the-period mask, onward
    mask, current mask, won, deals): a deal's cohort is the stages it entered less those it had
    entered before the period."""
    counts: dict[Any, dict[str, list[int]]] = {}
    for k, entered, before, onward, there, won, deals in rows:
        cohort = entered & ~before
        if not cohort:
            continue
        found = counts.setdefault(k, {})
        for i, stage in enumerate(stages):
            if cohort >> i & 1:
                tally = found.setdefault(stage, [0, 0, 0, 0])
                tally[0] += deals
                if onward >> i & 1:
                    tally[1] += deals
                elif there >> i & 1:
                    tally[2] += deals
                tally[3] += deals if won else 0
    return {k: {stage: (a, b, c, e) for stage, (a, b, c, e) in found.items()} for k, found in counts.items()}


def funnel_of(scope: Scope, counts: dict[str, tuple[int, int, int, int]]) -> list[StageConversion]:
    """The funnel steps in process order from per-stage (entered, reached next, still there, won) counts."""
    return [step(s.key, s.name, *counts.get(s.key, (0, 0, 0, 0))) for s in scope.process.sales_stages]
