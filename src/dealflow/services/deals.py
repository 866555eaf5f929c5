"""Use cases on deals, one function per user action, each one unit of work committed once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from dealflow.domain import commands as cmds
from dealflow.domain.deals import Deal
from dealflow.domain.decisions import Actor, Decision, Refusal
from dealflow.domain.evidence import EvidenceCommand, capture
from dealflow.domain.gates import GateResult, exit_gate
from dealflow.domain.handoffs import accept_handoff as decide_accept
from dealflow.domain.handoffs import return_handoff as decide_return
from dealflow.domain.lifecycle import create_deal as decide_create
from dealflow.domain.lifecycle import reassign_deal as decide_reassign
from dealflow.domain.moves import move_deal as decide_move
from dealflow.domain.moves import next_stage
from dealflow.domain.outcomes import close_deal as decide_close
from dealflow.domain.outcomes import reopen_deal as decide_reopen
from dealflow.errors import InvalidInput, NotFound
from dealflow.process.models import Process
from dealflow.services import access, cadences
from dealflow.services.lookups import load_actor, load_actor_and_deal, load_deal, pick_receiver, refuse
from dealflow.services.recording import record_deal_events
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.processes import load_process, named_or_default_process
from dealflow.store.unit_of_work import UnitOfWork

Decide = Callable[[Deal, Process, Actor, datetime], Decision]


def _act(uow: UnitOfWork, *, actor_id: str, deal_id: str, decide: Decide, change: bool = True) -> Deal:
    """Load, check the actor may change the deal (or, without ``change``, see it: a handoff's
    receiver settling it), decide with the core, record the events and projections, commit once."""
    connection = uow.connection
    actor, deal = load_actor_and_deal(connection, user_id=actor_id, deal_id=deal_id)
    access.loaded_deal(connection, actor=actor, deal=deal, change=change)
    process = load_process(connection, key=deal.process, version=deal.process_version)
    decision = decide(deal, process, actor, uow.clock())
    if isinstance(decision, Refusal):
        refuse(decision)
    after = record_deal_events(uow, deal=deal, found=decision)
    uow.commit()
    return after


def create_deal(
    *,
    uow: UnitOfWork,
    actor_id: str,
    process_key: str | None,
    title: str,
    owner: str | None = None,
    account_id: str | None = None,
    stage: str | None = None,
    fields: dict[str, Any] | None = None,
    override: bool = False,
    reason: str | None = None,
) -> Deal:
    """Open a new deal in a process (the workspace's default one when None), owned by ``owner``
    (the actor by default), in a stage the process creates deals in (or past that rule, by an
    override with a reason)."""
    connection = uow.connection
    actor = load_actor(connection, user_id=actor_id)
    owner_id = load_actor(connection, user_id=owner).id if owner else actor.id
    access.assignee(connection, actor=actor, owner=owner_id)
    if account_id is not None and not queries.exists(connection, t.accounts, account_id):
        raise NotFound(f"no account '{account_id}'")
    process = named_or_default_process(connection, process_key)
    deal_id = f"D-{queries.next_deal_number(connection)}"
    command = cmds.CreateDeal(
        deal_id=deal_id,
        title=title,
        owner=owner_id,
        account_id=account_id,
        stage=stage,
        fields=fields or {},
        override=override,
        reason=reason,
    )
    decision = decide_create(command, process=process, actor=actor, now=uow.clock())
    if isinstance(decision, Refusal):
        refuse(decision)
    deal = record_deal_events(uow, deal=None, found=decision)
    deal = cadences.start_on_deal_created(uow=uow, actor=actor, deal=deal, process=process)
    uow.commit()
    return deal


def capture_evidence(*, uow: UnitOfWork, actor_id: str, deal_id: str, command: EvidenceCommand) -> Deal:
    """Record a field update, activity, next step, contact, score, approval or document."""
    connection = uow.connection
    if isinstance(command, cmds.AttachContact) and not queries.exists(connection, t.contacts, command.contact_id):
        raise NotFound(f"no contact '{command.contact_id}'")
    if isinstance(command, cmds.SetNextStep):
        load_actor(connection, user_id=command.owner)

    def decide(deal: Deal, process: Process, actor: Actor, now: datetime) -> Decision:
        return capture(deal, command, process=process, actor=actor, now=now)

    return _act(uow, actor_id=actor_id, deal_id=deal_id, decide=decide)


def move_deal(
    *,
    uow: UnitOfWork,
    actor_id: str,
    deal_id: str,
    to: str,
    reason: str | None = None,
    override: bool = False,
    handoff_to: str | None = None,
) -> Deal:
    """Move a deal to another stage through its gate (or past it, with an override and a reason)."""

    def decide(deal: Deal, process: Process, actor: Actor, now: datetime) -> Decision:
        receiver, roles = pick_receiver(uow.connection, process=process, deal=deal, to_stage=to, requested=handoff_to)
        command = cmds.MoveDeal(to=to, reason=reason, override=override, handoff_to=receiver, handoff_to_roles=roles)
        return decide_move(deal, command, process=process, actor=actor, now=now)

    return _act(uow, actor_id=actor_id, deal_id=deal_id, decide=decide)


def close_deal(
    *,
    uow: UnitOfWork,
    actor_id: str,
    deal_id: str,
    outcome: str,
    reason: str | None = None,
    fields: dict[str, Any] | None = None,
    handoff_to: str | None = None,
) -> Deal:
    """End a deal as won, lost or disqualified."""

    def decide(deal: Deal, process: Process, actor: Actor, now: datetime) -> Decision:
        post = [s.key for s in process.stages if s.post_sale]
        receiver: str | None = None
        roles: tuple[str, ...] = ()
        if outcome == "won" and post:
            receiver, roles = pick_receiver(
                uow.connection, process=process, deal=deal, to_stage=post[0], requested=handoff_to
            )
        command = cmds.CloseDeal(
            outcome=outcome, reason=reason, fields=fields or {}, handoff_to=receiver, handoff_to_roles=roles
        )
        return decide_close(deal, command, process=process, actor=actor, now=now)

    return _act(uow, actor_id=actor_id, deal_id=deal_id, decide=decide)


def reopen_deal(*, uow: UnitOfWork, actor_id: str, deal_id: str, reason: str, stage: str | None = None) -> Deal:
    """Open a won, lost or disqualified deal again (a manager, with a reason)."""

    def decide(deal: Deal, process: Process, actor: Actor, now: datetime) -> Decision:
        return decide_reopen(deal, cmds.ReopenDeal(reason=reason, stage=stage), process=process, actor=actor, now=now)

    return _act(uow, actor_id=actor_id, deal_id=deal_id, decide=decide)


def reassign_deal(*, uow: UnitOfWork, actor_id: str, deal_id: str, to_owner: str, reason: str | None = None) -> Deal:
    """Give a deal to another owner (of a team the actor may give deals to)."""
    load_actor(uow.connection, user_id=to_owner)

    def decide(deal: Deal, process: Process, actor: Actor, now: datetime) -> Decision:
        access.assignee(uow.connection, actor=actor, owner=to_owner)
        return decide_reassign(deal, cmds.ReassignDeal(to_owner=to_owner, reason=reason), actor=actor, now=now)

    return _act(uow, actor_id=actor_id, deal_id=deal_id, decide=decide)


def _handoff_deal(uow: UnitOfWork, handoff_id: str) -> str:
    row = queries.get_handoff(uow.connection, handoff_id=handoff_id)
    if row is None:
        raise NotFound(f"no handoff '{handoff_id}'")
    return str(row.deal_id)


def accept_handoff(*, uow: UnitOfWork, actor_id: str, handoff_id: str) -> Deal:
    """The receiver accepts a handoff and becomes the deal's owner."""

    def decide(deal: Deal, process: Process, actor: Actor, now: datetime) -> Decision:
        return decide_accept(deal, handoff_id, process, actor=actor, now=now)

    return _act(uow, actor_id=actor_id, deal_id=_handoff_deal(uow, handoff_id), decide=decide, change=False)


def return_handoff(*, uow: UnitOfWork, actor_id: str, handoff_id: str, reason: str) -> Deal:
    """The receiver sends a handoff back; the deal returns to its sender and previous stage."""
    if not reason.strip():
        raise InvalidInput("say why the handoff goes back", field="reason")

    def decide(deal: Deal, process: Process, actor: Actor, now: datetime) -> Decision:
        return decide_return(deal, handoff_id, reason, actor=actor, now=now)

    return _act(uow, actor_id=actor_id, deal_id=_handoff_deal(uow, handoff_id), decide=decide, change=False)


def check_gate(*, uow: UnitOfWork, deal_id: str, to: str | None = None) -> tuple[Deal, Process, GateResult | None]:
    """The deal, its process and the gate it faces to leave its stage (for the next stage by default)."""
    connection = uow.connection
    deal = load_deal(connection, deal_id=deal_id)
    process = load_process(connection, key=deal.process, version=deal.process_version)
    to = to or next_stage(deal, process)
    if to is None:
        return deal, process, None
    if process.stage(to) is None:
        raise InvalidInput(f"unknown stage '{to}'", field="to")
    return deal, process, exit_gate(deal, process, to, uow.clock())
