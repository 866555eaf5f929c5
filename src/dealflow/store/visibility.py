"""The facts the access rules decide on, read from the state tables, and a scope as an SQL filter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_, select, true
from sqlalchemy.orm import aliased

from dealflow.domain.access import Ownership, Scope
from dealflow.store import tables as t

_OWNER = aliased(t.users, name="owner_user")
_RECEIVER = aliased(t.users, name="receiver_user")
_PENDING = t.handoffs.alias("pending_handoff")  # its own name, so it never correlates with an outer handoffs


def deal_ownership(connection: Connection, *, deal_id: str) -> Ownership | None:
    """Who owns a deal, their team, and who a pending handoff is addressed to; None if no such deal."""
    d, h = t.deals, t.handoffs
    query = (
        select(d.c.id, d.c.owner, _OWNER.c.team, h.c.to_owner, _RECEIVER.c.team.label("receiver_team"))
        .outerjoin(_OWNER, _OWNER.c.id == d.c.owner)
        .outerjoin(h, and_(h.c.deal_id == d.c.id, h.c.status == "pending"))
        .outerjoin(_RECEIVER, _RECEIVER.c.id == h.c.to_owner)
        .where(d.c.id == deal_id)
    )
    row = connection.execute(query).first()
    if row is None:
        return None
    return Ownership(f"deal {row.id}", row.owner, row.team, row.to_owner, row.receiver_team)


def lead_ownership(connection: Connection, *, lead_id: str) -> Ownership | None:
    """Who owns a lead and their team; None if no such lead."""
    query = (
        select(t.leads.c.id, t.leads.c.owner, _OWNER.c.team)
        .outerjoin(_OWNER, _OWNER.c.id == t.leads.c.owner)
        .where(t.leads.c.id == lead_id)
    )
    row = connection.execute(query).first()
    return None if row is None else Ownership(f"lead {row.id}", row.owner, row.team)


def handoff_deal(connection: Connection, *, handoff_id: str) -> str | None:
    """The deal a handoff belongs to, or None if no such handoff."""
    query = select(t.handoffs.c.deal_id).where(t.handoffs.c.id == handoff_id)
    found = connection.execute(query).scalar()
    return None if found is None else str(found)


def owned_by(scope: Scope, owner: ColumnElement[Any]) -> ColumnElement[bool]:
    """The rows whose ``owner`` column is in ``scope`` (the SQL twin of the access rules)."""
    if scope.reach == "all":
        return true()
    if scope.reach == "team":
        team = select(t.users.c.id).where(t.users.c.team == scope.team)
        return or_(owner == scope.user, owner.in_(team))
    return owner == scope.user


def deals_visible(scope: Scope, deals: Any = t.deals) -> ColumnElement[bool]:
    """The deals the scope sees: owned in it, or handed to someone in it and not yet settled."""
    mine = owned_by(scope, deals.c.owner)
    if scope.reach == "all":
        return mine
    # An uncorrelated IN: the few pending handoffs to the scope are found once, where a correlated
    # EXISTS was run for every deal (on SQLite through the receiver's index: 1 s for a rep's board).
    h = _PENDING
    handed = deals.c.id.in_(select(h.c.deal_id).where(h.c.status == "pending", owned_by(scope, h.c.to_owner)))
    return or_(mine, handed)
