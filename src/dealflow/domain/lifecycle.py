"""Opening a deal and changing its owner."""

from __future__ import annotations

from datetime import datetime

from dealflow.domain import events as ev
from dealflow.domain.commands import CreateDeal, ReassignDeal
from dealflow.domain.deals import Deal
from dealflow.domain.decisions import Actor, Decision, Refusal, event
from dealflow.domain.fields import parse_field, parse_fields
from dealflow.domain.handoffs import SUPERVISOR_ROLES
from dealflow.process.models import Process


def create_deal(cmd: CreateDeal, *, process: Process, actor: Actor, now: datetime) -> Decision:
    """The DealCreated event of a new deal in the first stage (or a named sales stage)."""
    stage = process.stages[0] if cmd.stage is None else process.stage(cmd.stage)
    if stage is None or stage.post_sale:
        stages = ", ".join(s.key for s in process.sales_stages)
        return Refusal(f"unknown stage '{cmd.stage}'", (f"Stages of {process.key}: {stages}",))
    if stage.entry:
        return Refusal(f"{stage.name} has entry criteria: create the deal in an earlier stage")
    title = parse_field(process, "title", cmd.title)
    fields = parse_fields(process, cmd.fields)
    data = {
        "title": title,
        "process": process.key,
        "process_version": process.version,
        "account_id": cmd.account_id,
        "owner": cmd.owner,
        "stage": stage.key,
        "fields": {"title": title, **fields},
    }
    return [event(ev.DEAL_CREATED, ev.deal_stream(cmd.deal_id), actor, now, **data)]


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
