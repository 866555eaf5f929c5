"""Handoffs: the context a receiving stage needs, how complete it is, accepting and sending back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dealflow.domain import events as ev
from dealflow.domain.access import SUPERVISOR_ROLES
from dealflow.domain.deals import Deal
from dealflow.domain.decisions import Actor, Decision, Refusal, event
from dealflow.process.models import Process, Stage

# Roles that may act on any handoff, besides its receiver.


def _context_value(deal: Deal, item: str) -> Any:
    match item:
        case "next_step":
            step = deal.next_step
            return None if step is None else step.model_dump(mode="json", exclude={"by", "at"})
        case "contacts":
            return [{"contact_id": c.contact_id, "role": c.role} for c in deal.contacts] or None
        case "qualification":
            confirmed = {k: sorted(v) for k, v in deal.qualification.items() if v}
            return confirmed or None
        case "documents":
            return {k: d.value for k, d in deal.documents.items()} or None
        case "recent_activities":
            recent = deal.activities[-5:]
            return [{"kind": a.kind, "at": a.at.isoformat()} for a in recent] or None
        case _:
            return deal.value(item)


def context_snapshot(deal: Deal, stage: Stage) -> tuple[dict[str, Any], float]:
    """The context ``stage`` declares it needs, as captured now, and the share present (0..1)."""
    wanted = stage.handoff.context
    snapshot = {item: _context_value(deal, item) for item in wanted}
    present = sum(1 for value in snapshot.values() if value not in (None, "", [], {}))
    return snapshot, (present / len(wanted) if wanted else 1.0)


def needs_handoff(process: Process, deal: Deal, to_stage: str, to_owner: str | None, to_roles: tuple[str, ...]) -> bool:
    """True when a move changes the owner role, unless the owner stays and holds the new role too."""
    here, there = process.stage(deal.stage), process.stage(to_stage)
    assert here is not None
    assert there is not None
    if here.owner_role == there.owner_role:
        return False
    return not (to_owner == deal.owner and there.owner_role in to_roles)


def create_handoff(
    deal: Deal,
    process: Process,
    *,
    to_stage: str,
    to_owner: str | None,
    to_roles: tuple[str, ...],
    actor: Actor,
    now: datetime,
) -> Decision:
    """The HandoffCreated event for a move into ``to_stage``, or why it cannot be made."""
    stage = process.stage(to_stage)
    assert stage is not None
    if to_owner is None:
        return Refusal(
            f"{stage.name} is owned by the {stage.owner_role} role: name who receives the deal",
            (f"No {stage.owner_role} available to receive the deal",),
        )
    if stage.owner_role not in to_roles:
        return Refusal(
            f"{to_owner} cannot receive the deal",
            (f"{to_owner} is {', '.join(to_roles) or 'unknown'}, but {stage.name} is owned by {stage.owner_role}",),
        )
    snapshot, completeness = context_snapshot(deal, stage)
    handoff_id = f"{deal.id}-H{deal.version + 1}"
    data = {
        "id": handoff_id,
        "from_owner": deal.owner,
        "to_owner": to_owner,
        "from_stage": deal.stage,
        "to_stage": to_stage,
        "context": snapshot,
        "completeness": round(completeness, 4),
        "missing": [k for k, v in snapshot.items() if v in (None, "", [], {})],
        "due_at": (now + stage.handoff.sla).isoformat(),
    }
    return [event(ev.HANDOFF_CREATED, ev.deal_stream(deal.id), actor, now, **data)]


def _check_receiver(deal: Deal, handoff_id: str, actor: Actor) -> Refusal | None:
    pending = deal.handoff
    if pending is None or pending.id != handoff_id:
        return Refusal(f"handoff {handoff_id} is not awaiting acceptance")
    if actor.id != pending.to_owner and not actor.holds(*SUPERVISOR_ROLES):
        return Refusal(
            f"only {pending.to_owner} (or a manager) can act on handoff {handoff_id}",
            kind="forbidden",
        )
    return None


def accept_handoff(deal: Deal, handoff_id: str, process: Process, *, actor: Actor, now: datetime) -> Decision:
    """The receiver takes ownership of the deal, and of its next step unless the stage's handoff
    says the receiver sets their own (``next_step: reset``)."""
    if refusal := _check_receiver(deal, handoff_id, actor):
        return refusal
    assert deal.handoff is not None
    late = now > deal.handoff.due_at
    stage = process.stage(deal.handoff.to_stage)
    next_step = stage.handoff.next_step if stage is not None else "pass"
    data = {
        "id": handoff_id,
        "from_owner": deal.handoff.from_owner,
        "to_owner": deal.handoff.to_owner,
        "late": late,
        "next_step": next_step,
    }
    return [event(ev.HANDOFF_ACCEPTED, ev.deal_stream(deal.id), actor, now, **data)]


def return_handoff(deal: Deal, handoff_id: str, reason: str, *, actor: Actor, now: datetime) -> Decision:
    """The receiver sends the deal back to the sender and its previous stage, saying why."""
    if refusal := _check_receiver(deal, handoff_id, actor):
        return refusal
    if not reason.strip():
        return Refusal("say why the handoff goes back", ("A reason is required",))
    assert deal.handoff is not None
    data = {
        "id": handoff_id,
        "reason": reason.strip(),
        "to_owner": deal.handoff.from_owner,
        "to_stage": deal.handoff.from_stage,
    }
    return [event(ev.HANDOFF_RETURNED, ev.deal_stream(deal.id), actor, now, **data)]


def choose_receiver(
    role: str, *, owner: Actor | None, holders: Sequence[Actor], load: Mapping[str, int]
) -> Actor | None:
    """Who receives a deal entering a stage owned by ``role`` when nobody is named: its owner if
    they hold the role, else the holder of the role with the fewest open deals (``load``), in the
    owner's team first, then anywhere; None when nobody holds it."""
    if owner is not None and role in owner.roles:
        return owner
    holding = [a for a in holders if role in a.roles]
    team = owner.team if owner is not None else None
    candidates = [a for a in holding if a.team == team] or holding
    return min(candidates, key=lambda a: (load.get(a.id, 0), a.id)) if candidates else None
