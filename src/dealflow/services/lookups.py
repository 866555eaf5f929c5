"""What every use case loads first: the actor, the deal, its process; and turning refusals into errors."""

from __future__ import annotations

from typing import NoReturn

from sqlalchemy import Connection

from dealflow.domain.deals import Deal
from dealflow.domain.decisions import Actor, Refusal
from dealflow.domain.handoffs import choose_receiver
from dealflow.errors import Forbidden, GateRefused, NotFound, Refused
from dealflow.process.models import Process
from dealflow.store import queries


def _unknown_user(connection: Connection, user_id: str) -> NotFound:
    known = ", ".join(r.id for r in queries.list_users(connection)) or "none"
    return NotFound(f"no user '{user_id}' (users: {known})")


def load_actor(connection: Connection, *, user_id: str) -> Actor:
    """The user acting, with their roles and team."""
    row = queries.get_user(connection, user_id=user_id)
    if row is None:
        raise _unknown_user(connection, user_id)
    return Actor(id=row.id, roles=tuple(row.roles), team=row.team)


def load_actor_and_deal(connection: Connection, *, user_id: str, deal_id: str) -> tuple[Actor, Deal]:
    """The user acting and the deal acted on, read together: every deal command starts here."""
    user, deal = queries.get_user_and_deal(connection, user_id=user_id, deal_id=deal_id)
    if user is None:
        raise _unknown_user(connection, user_id)
    if deal is None:
        raise NotFound(f"no deal '{deal_id}'")
    found_id, roles, team = user
    return Actor(id=found_id, roles=tuple(roles), team=team), deal


def load_deal(connection: Connection, *, deal_id: str) -> Deal:
    """A deal's current state, or NotFound."""
    deal = queries.get_deal(connection, deal_id=deal_id)
    if deal is None:
        raise NotFound(f"no deal '{deal_id}'")
    return deal


def refuse(refusal: Refusal) -> NoReturn:
    """Raise the error matching a rule's refusal."""
    if refusal.kind == "gate":
        raise GateRefused(refusal.message, refusal.reasons)
    if refusal.kind == "forbidden":
        raise Forbidden(refusal.message)
    raise Refused(refusal.message, refusal.reasons)


def pick_receiver(
    connection: Connection, *, process: Process, deal: Deal, to_stage: str, requested: str | None
) -> tuple[str | None, tuple[str, ...]]:
    """Who receives the deal in ``to_stage``: the one asked for, else as
    :func:`dealflow.domain.handoffs.choose_receiver` chooses among the workspace's users."""
    stage, here = process.stage(to_stage), process.stage(deal.stage)
    if stage is None:
        return None, ()
    if requested is None and here is not None and here.owner_role == stage.owner_role:
        return None, ()  # no change of role, so nobody new receives the deal
    if requested is not None:
        return requested, load_actor(connection, user_id=requested).roles
    users = [Actor(id=u.id, roles=tuple(u.roles), team=u.team) for u in queries.list_users(connection)]
    owner = next((u for u in users if u.id == deal.owner), None)
    holders = [u for u in users if stage.owner_role in u.roles]
    load = queries.open_deal_counts(connection) if holders and owner not in holders else {}
    chosen = choose_receiver(stage.owner_role, owner=owner, holders=holders, load=load)
    return (None, ()) if chosen is None else (chosen.id, chosen.roles)
