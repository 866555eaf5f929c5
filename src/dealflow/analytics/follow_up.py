"""Follow-up depth: how many touches a deal got before it was lost or disqualified.

A touch is an activity of kind call, email or meeting (notes are not touches) logged at or
before the moment the deal closed. Deals count in the period when they *closed* in it. Leads
carry no activities in this workspace's model, so their follow-up depth is not available.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, and_, case, func, select

from dealflow.analytics.outcomes import deal_rows
from dealflow.analytics.scope import Scope
from dealflow.store import tables as t

TOUCHES = ("call", "email", "meeting")
ENOUGH = 5
LEADS_NOTE = "not available: activities are logged on deals, not on leads"


class Depth(BaseModel):
    """Touches before the end for the deals that ended one way (lost, or disqualified)."""

    model_config = ConfigDict(frozen=True)

    deals: int = 0
    touches: int = 0
    touches_per_deal: float | None = None
    five_or_more: int = 0
    share_five_or_more: float | None = None


class FollowUp(BaseModel):
    """Follow-up depth of lost and of disqualified deals; leads when activity data exists."""

    model_config = ConfigDict(frozen=True)

    lost: Depth = Depth()
    disqualified: Depth = Depth()
    leads: Depth | None = None
    leads_note: str = LEADS_NOTE


def measure_follow_up(connection: Connection, scope: Scope) -> dict[Any, FollowUp]:
    """The follow-up depth of each slice."""
    d, a = t.deals, t.activities
    source, conditions, key = scope.frame(d, deal_rows(scope))
    touched = and_(a.c.deal_id == d.c.id, a.c.kind.in_(TOUCHES), a.c.at <= d.c.closed_at)
    per_deal = (
        select(key.label("k"), d.c.status, func.count(a.c.seq).label("n"))
        .select_from(source.outerjoin(a, touched))
        .where(
            d.c.process == scope.process.key,
            d.c.status.in_(("lost", "disqualified")),
            scope.within(d.c.closed_at),
            *conditions,
        )
        .group_by(*scope.groups(key), d.c.id, d.c.status)
        .subquery("per_deal")
    )
    query = select(
        per_deal.c.k,
        per_deal.c.status,
        func.count(),
        func.sum(per_deal.c.n),
        func.sum(case((per_deal.c.n >= ENOUGH, 1), else_=0)),
    ).group_by(per_deal.c.k, per_deal.c.status)
    depths: dict[Any, dict[str, Depth]] = {}
    for k, status, deals, touches, enough in connection.execute(query):
        depths.setdefault(k, {})[status] = Depth(
            deals=int(deals),
            touches=int(touches),
            touches_per_deal=int(touches) / int(deals),
            five_or_more=int(enough),
            share_five_or_more=int(enough) / int(deals),
        )
    return {k: FollowUp(**found) for k, found in depths.items()}
