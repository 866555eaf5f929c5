"""Opening a deal and changing its owner."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dealflow.domain import events as ev
from dealflow.domain.access import SUPERVISOR_ROLES, may_override
from dealflow.domain.commands import CreateDeal, ReassignDeal
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.decisions import Actor, Decision, Refusal, event
from dealflow.domain.fields import parse_field, parse_fields
from dealflow.domain.gates import Unmet, evaluate_criteria, required_fields
from dealflow.process.models import Process, Stage


def creation_gate(deal: Deal, process: Process, now: datetime) -> tuple[str, ...]:
    """What a new ``deal`` lacks to start in its stage: nothing where the process lets deals be
    created there and the stage's entry criteria hold; elsewhere, besides those, the required
    fields and exit evidence of the stages it jumps over, in process order."""
    stage = process.stage(deal.stage)
    assert stage is not None
    unmet: list[Unmet] = []
    if deal.stage not in process.creation_stages:
        for earlier in process.stages[: process.index(deal.stage)]:
            unmet += required_fields(earlier.required, deal, process)
            unmet += evaluate_criteria(earlier.exit, deal, process, now).unmet
    unmet += evaluate_criteria(stage.entry, deal, process, now).unmet
    return tuple(str(u) for u in unmet)


def _creation_override(
    process: Process, cmd: CreateDeal, actor: Actor, stage: Stage, unmet: tuple[str, ...]
) -> Refusal | None:
    allowed = ", ".join(process.stage(k).name for k in process.creation_stages)  # type: ignore[union-attr]
    if not cmd.override:
        where = f"{process.name} creates deals in {allowed}" if stage.key not in process.creation_stages else ""
        head = f"a deal cannot start in {stage.name}" + (f": {where}" if where else "")
        reasons = unmet if unmet else (f"Create it in {allowed}, or override with a reason",)
        return Refusal(head, reasons, kind="gate")
    if refused := may_override(actor, process.overrides.roles, f"create a deal in {stage.name}"):
        return Refusal(refused, (f"Create it in {allowed}",), kind="forbidden")
    if not (cmd.reason or "").strip():
        return Refusal("an override needs a written reason", ("Say why the deal starts in " + stage.name,))
    return None


def create_deal(cmd: CreateDeal, *, process: Process, actor: Actor, now: datetime) -> Decision:
    """The DealCreated event of a new deal in a stage the process creates deals in (the first
    by default); anywhere else only by an override that records the reason and what was unmet."""
    stage = process.stages[0] if cmd.stage is None else process.stage(cmd.stage)
    if stage is None or stage.post_sale:
        stages = ", ".join(s.key for s in process.sales_stages)
        return Refusal(f"unknown stage '{cmd.stage}'", (f"Stages of {process.key}: {stages}",))
    title = parse_field(process, "title", cmd.title)
    fields = parse_fields(process, cmd.fields)
    data: dict[str, Any] = {
        "title": title,
        "process": process.key,
        "process_version": process.version,
        "account_id": cmd.account_id,
        "owner": cmd.owner,
        "stage": stage.key,
        "fields": {"title": title, **fields},
    }
    created = event(ev.DEAL_CREATED, ev.deal_stream(cmd.deal_id), actor, now, **data)
    unmet = creation_gate(evolve(None, created), process, now)
    if unmet or stage.key not in process.creation_stages:
        if refusal := _creation_override(process, cmd, actor, stage, unmet):
            return refusal
        override = {"override": True, "reason": (cmd.reason or "").strip(), "unmet": list(unmet)}
        created = event(ev.DEAL_CREATED, created.stream, actor, now, **data, **override)
    return [created]


def reassign_deal(deal: Deal, cmd: ReassignDeal, *, actor: Actor, now: datetime) -> Decision:
    """Give the deal to another owner: its owner or a manager may do it."""
    if actor.id != deal.owner and not actor.holds(*SUPERVISOR_ROLES):
        return Refusal(f"only {deal.owner} or a manager can reassign this deal", kind="forbidden")
    if cmd.to_owner == deal.owner:
        return Refusal(f"{deal.owner} already owns the deal")
    if deal.handoff is not None:
        return Refusal(f"handoff {deal.handoff.id} awaits acceptance; settle it first")
    data = {
        "from_owner": deal.owner,
        "to_owner": cmd.to_owner,
        "reason": (cmd.reason or "").strip() or None,
    }
    return [event(ev.DEAL_REASSIGNED, ev.deal_stream(deal.id), actor, now, **data)]
