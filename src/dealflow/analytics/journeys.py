"""The deals of a process grouped by journey (``deal_journeys``): status, open stage, the stages
stayed in and left onward, and how many deals share them. One pass over one small row per deal
answers the all-time funnel and how many deals ended each way, so that a metrics run over all time
reads neither every stay nor every closed deal for them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from dealflow.analytics.scope import Scope
from dealflow.store import tables as t
from dealflow.store.stay_summaries import stages_in


@dataclass(frozen=True)
class Journey:
    """Deals that share a status, an open stage and the stages they stayed in and left onward."""

    status: str
    open_stage: str | None
    stayed: frozenset[str]
    onward: frozenset[str]
    deals: int


def read_journeys(connection: Connection, scope: Scope) -> list[Journey]:
    """Every deal of the scope's process, grouped by journey."""
    j = t.deal_journeys
    columns = [j.c.status, j.c.open_stage, j.c.stayed, j.c.onward]
    query = select(*columns, func.count()).where(j.c.process == scope.process.key).group_by(*columns)
    return [
        Journey(row[0], row[1], frozenset(stages_in(row[2])), frozenset(stages_in(row[3])), int(row[4]))
        for row in connection.execute(query)
    ]


def deals_by_status(journeys: list[Journey]) -> Counter[str]:
    """How many deals have each status."""
    found: Counter[str] = Counter()
    for journey in journeys:
        found[journey.status] += journey.deals
    return found
