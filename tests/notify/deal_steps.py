"""Deals and next steps made through the services, for the notification tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from dealflow.domain import commands as cmds
from dealflow.services import deals as sd
from dealflow.services.lookups import load_deal
from dealflow.store import tables as t
from dealflow.store.unit_of_work import UnitOfWork

Factory = Callable[[], UnitOfWork]


def create(factory: Factory, title: str, owner: str = "ada", stage: str = "qualification") -> str:
    """A deal of ``owner`` opened by the admin in ``stage`` (past the first stage by an override)."""
    later = stage != "prospecting"
    with factory() as uow:
        deal = sd.create_deal(
            uow=uow, actor_id="root", process_key="standard", title=title, owner=owner, stage=stage,
            override=later, reason="Set up in a later stage" if later else None,
        )  # fmt: skip
    return deal.id


def hand_over(factory: Factory, deal_id: str, to: str = "ben") -> str:
    """Move a deal past its gates into discovery (an AE stage): a handoff to ``to``; its id."""
    with factory() as uow:
        sd.move_deal(
            uow=uow, actor_id="max", deal_id=deal_id, to="discovery", override=True, reason="Referral", handoff_to=to
        )
    with factory() as uow:
        query = select(t.handoffs.c.id).where(t.handoffs.c.deal_id == deal_id, t.handoffs.c.status == "pending")
        return str(uow.connection.execute(query).scalar_one())


def accept(factory: Factory, handoff_id: str, actor: str = "ben") -> None:
    with factory() as uow:
        sd.accept_handoff(uow=uow, actor_id=actor, handoff_id=handoff_id)


def move(factory: Factory, deal_id: str, to: str) -> None:
    with factory() as uow:
        sd.move_deal(uow=uow, actor_id="max", deal_id=deal_id, to=to, override=True, reason="Moving on")


def next_step(factory: Factory, deal_id: str, owner: str, due: datetime, action: str = "Call back") -> None:
    """The deal's owner sets a next step for ``owner`` (themselves or a teammate)."""
    command = cmds.SetNextStep(action=action, owner=owner, due=due, buyer_confirmed=True)
    with factory() as uow:
        actor = load_deal(uow.connection, deal_id=deal_id).owner
        sd.capture_evidence(uow=uow, actor_id=actor, deal_id=deal_id, command=command)
