"""Stage-to-stage conversion as a funnel, by cohort of stage entry.

A deal *entered* a stage when it has a finished stay there (``stage_visits``) or is in it now
(its ``deals`` row; a deal enters its first stage when it is created). The cohort of a stage is
the deals whose first entry into it falls in the period. Of the cohort, a deal *reached the next
stage or further* when one of its stays there ended by moving to a later stage (forward or
skip) or by winning the deal; it *was won* when the deal's status is won. A deal of the cohort
that sits in the stage now is *still there*: not yet converted, and not dropped either, so the
drop-off is the cohort less the deals that moved on and those still there.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, case, func, literal, select, union_all

from dealflow.analytics.scope import Rows, Scope
from dealflow.store import tables as t

ONWARD = ("forward", "skip", "won")


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


def measure_funnel(connection: Connection, scope: Scope) -> dict[Any, list[StageConversion]]:
    """The funnel of each slice over the process's sales stages, in process order."""
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
    counts: dict[Any, dict[str, tuple[int, int, int, int]]] = {}
    for k, stage, entered, onward_count, there_count, won in connection.execute(query):
        counts.setdefault(k, {})[stage] = (int(entered), int(onward_count), int(there_count), int(won))
    return {k: funnel_of(scope, found) for k, found in counts.items()}


def funnel_of(scope: Scope, counts: dict[str, tuple[int, int, int, int]]) -> list[StageConversion]:
    """The funnel steps in process order from per-stage (entered, reached next, still there, won) counts."""
    return [step(s.key, s.name, *counts.get(s.key, (0, 0, 0, 0))) for s in scope.process.sales_stages]
