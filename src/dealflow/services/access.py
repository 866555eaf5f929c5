"""Applying the access rules of :mod:`dealflow.domain.access` to stored deals, leads and handoffs.

Each check runs on the unit of work of the action it guards, so the check and the change see
the same state, and raises NotFound or Forbidden with the reason the rule gave.
"""

from __future__ import annotations

from sqlalchemy import Connection

from dealflow.domain import access
from dealflow.domain.access import Ownership
from dealflow.domain.deals import Deal
from dealflow.domain.decisions import Actor
from dealflow.errors import Forbidden, NotFound
from dealflow.store import queries, visibility


def _allow(refusal: str | None) -> None:
    if refusal is not None:
        raise Forbidden(refusal)


def deal(connection: Connection, *, actor: Actor, deal_id: str, change: bool = False) -> Ownership:
    """Check the actor may read (or with ``change``, change) a deal."""
    return _deal(connection, actor, deal_id, change)


def _deal(connection: Connection, actor: Actor, deal_id: str, change: bool) -> Ownership:
    found = visibility.deal_ownership(connection, deal_id=deal_id)
    if found is None:
        raise NotFound(f"no deal '{deal_id}'")
    _allow(access.may_change(actor, found) if change else access.may_see(actor, found))
    return found


def loaded_deal(connection: Connection, *, actor: Actor, deal: Deal, change: bool = True) -> None:
    """Check the actor may change (or read) a deal the use case already loaded: its owner, its
    pending handoff's receiver (to read) and RevOps need no query; anyone else, the team rule."""
    if deal.owner == actor.id or access.scope_of(actor).reach == "all":
        return
    if not change and deal.handoff is not None and deal.handoff.to_owner == actor.id:
        return
    _deal(connection, actor, deal.id, change)


def handoff(connection: Connection, *, actor: Actor, handoff_id: str) -> str:
    """Check the actor may see the deal a handoff belongs to; return the deal's id.

    Who may accept or return it (its receiver, or a supervisor) is the handoff rule's to say."""
    deal_id = visibility.handoff_deal(connection, handoff_id=handoff_id)
    if deal_id is None:
        raise NotFound(f"no handoff '{handoff_id}'")
    deal(connection, actor=actor, deal_id=deal_id)
    return deal_id


def lead(connection: Connection, *, actor: Actor, lead_id: str, change: bool = False) -> Ownership:
    """Check the actor may read (or with ``change``, change) a lead."""
    found = visibility.lead_ownership(connection, lead_id=lead_id)
    if found is None:
        raise NotFound(f"no lead '{lead_id}'")
    _allow(access.may_change(actor, found) if change else access.may_see(actor, found))
    return found


def assignee(connection: Connection, *, actor: Actor, owner: str | None) -> None:
    """Check the actor may make ``owner`` (themselves when None) the owner of a new deal or lead."""
    if owner is None or owner == actor.id:
        return
    row = queries.get_user(connection, user_id=owner)
    if row is None:
        raise NotFound(f"no user '{owner}'")
    _allow(access.may_assign(actor, owner=owner, owner_team=row.team))


def administer(actor: Actor, what: str) -> None:
    """Check the actor may change processes and users."""
    _allow(access.may_administer(actor, what))


def report_filters(actor: Actor, *, owner: str | None, team: str | None) -> tuple[str | None, str | None]:
    """The owner and team a report on deals is limited to for this actor."""
    found = access.report_filters(actor, owner=owner, team=team)
    if isinstance(found, str):
        raise Forbidden(found)
    return found
