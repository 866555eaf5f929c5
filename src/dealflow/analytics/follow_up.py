"""Follow-up depth: how many touches a deal got before it was lost or disqualified.

A touch is an activity of kind call, email or meeting (notes are not touches) logged at or
before the moment the deal closed. Deals count in the period when they *closed* in it. Leads
carry no activities in this workspace's model, so their follow-up depth is not available.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, func, select

from dealflow.analytics.journeys import Journey, deals_by_status, read_journeys
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


def measure_follow_up(
    connection: Connection, scope: Scope, *, journeys: list[Journey] | None = None
) -> dict[Any, FollowUp]:
    """The follow-up depth of each slice.

    Touches are counted per deal from the activities first, so that the deals in scope are read
    once, not grouped one by one; over all time the deals are not read at all, only counted from
    ``journeys`` (read when not given)."""
    d, a = t.deals, t.activities
    ended = (d.c.process == scope.process.key, d.c.status.in_(("lost", "disqualified")), scope.within(d.c.closed_at))
    closing = t.deals.alias("closing_deal")
    if scope.whole:
        return _whole(connection, scope, read_journeys(connection, scope) if journeys is None else journeys)
    touches = (
        select(a.c.deal_id, func.count().label("n"))
        .select_from(a.join(closing, closing.c.id == a.c.deal_id))
        .where(a.c.kind.in_(TOUCHES), a.c.at <= closing.c.closed_at, closing.c.status.in_(("lost", "disqualified")))
        .group_by(a.c.deal_id)
        .subquery("touches")
    )
    source, conditions, key = scope.frame(d, deal_rows(scope))
    each = func.coalesce(touches.c.n, 0)
    query = (
        select(
            key.label("k"),
            d.c.status,
            func.count(),
            func.coalesce(func.sum(touches.c.n), 0),
            func.count().filter(each >= ENOUGH),
        )
        .select_from(source.outerjoin(touches, touches.c.deal_id == d.c.id))
        .where(*ended, *conditions)
        .group_by(*scope.groups(key), d.c.status)
    )
    depths: dict[Any, dict[str, Depth]] = {}
    for k, status, deals, touched, enough in connection.execute(query):
        depths.setdefault(k, {})[status] = _depth(int(deals), int(touched), int(enough))
    return {k: FollowUp(**found) for k, found in depths.items()}


def _whole(connection: Connection, scope: Scope, journeys: list[Journey]) -> dict[Any, FollowUp]:
    """The follow-up depth of every lost and disqualified deal of the process: the deals counted
    from their journeys, the touches from the activities."""
    a, closing = t.activities, t.deals
    touches = (
        select(closing.c.status, func.count().label("n"))
        .select_from(a.join(closing, closing.c.id == a.c.deal_id))
        .where(
            a.c.kind.in_(TOUCHES),
            a.c.at <= closing.c.closed_at,
            closing.c.status.in_(("lost", "disqualified")),
            closing.c.process == scope.process.key,
        )
        .group_by(a.c.deal_id, closing.c.status)
        .subquery("touches")
    )
    query = select(touches.c.status, func.sum(touches.c.n), func.count().filter(touches.c.n >= ENOUGH)).group_by(
        touches.c.status
    )
    touched = {status: (int(n), int(enough)) for status, n, enough in connection.execute(query)}
    ended = deals_by_status(journeys)
    found = {}
    for status in ("lost", "disqualified"):
        if ended[status]:
            n, enough = touched.get(status, (0, 0))
            found[status] = _depth(ended[status], n, enough)
    return {None: FollowUp(**found)} if found else {}


def _depth(deals: int, touches: int, enough: int) -> Depth:
    return Depth(
        deals=deals,
        touches=touches,
        touches_per_deal=touches / deals,
        five_or_more=enough,
        share_five_or_more=enough / deals,
    )
