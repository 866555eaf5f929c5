"""Moving a deal between stages: which moves the process allows, the gate, overrides, handoffs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from dealflow.domain import events as ev
from dealflow.domain.access import may_override
from dealflow.domain.commands import MoveDeal
from dealflow.domain.deals import Deal
from dealflow.domain.decisions import Actor, Decision, Refusal, event
from dealflow.domain.gates import exit_gate
from dealflow.domain.handoffs import create_handoff, needs_handoff
from dealflow.process.models import Process

MoveKind = Literal["forward", "skip", "backward"]


def next_stage(deal: Deal, process: Process) -> str | None:
    """The stage after the deal's (post-sale ones included, for a won deal), or None at the end of
    the process or once the deal is lost or disqualified: where its gate leads by default."""
    position = process.index(deal.stage)
    if position + 1 >= len(process.stages) or deal.status in ("lost", "disqualified"):
        return None
    return process.stages[position + 1].key


def move_kind(process: Process, from_stage: str, to_stage: str) -> MoveKind:
    """What a move is by the process order alone: one stage forward, a skip ahead, or backward."""
    step = process.index(to_stage) - process.index(from_stage)
    return "forward" if step == 1 else ("skip" if step > 1 else "backward")


def classify(process: Process, from_stage: str, to_stage: str) -> MoveKind | Refusal:
    """Whether a move is one stage forward, an allowed skip or backward; or why it is not allowed."""
    kind = move_kind(process, from_stage, to_stage)
    if kind == "forward":
        return kind
    if kind == "skip":
        if any(s.from_ == from_stage and s.to == to_stage for s in process.moves.skips):
            return kind
        allowed = process.stages[process.index(from_stage) + 1].name
        return Refusal(
            f"{process.key} does not allow skipping from {from_stage} to {to_stage}",
            (f"The next stage is {allowed}",),
        )
    if process.moves.backward == "never":
        return Refusal(f"{process.key} does not allow backward moves", ())
    return "backward"


def _check_target(deal: Deal, process: Process, cmd: MoveDeal) -> Refusal | None:
    target = process.stage(cmd.to)
    if target is None:
        stages = ", ".join(s.key for s in process.stages)
        return Refusal(f"unknown stage '{cmd.to}'", (f"Stages of {process.key}: {stages}",))
    if cmd.to == deal.stage:
        return Refusal(f"the deal is already in {target.name}")
    if deal.handoff is not None:
        return Refusal(
            f"handoff {deal.handoff.id} to {deal.handoff.to_owner} awaits acceptance",
            ("Accept or send back the handoff before moving the deal again",),
        )
    if deal.status == "open" and target.post_sale:
        return Refusal(f"{target.name} comes after the sale: win the deal first")
    if deal.status == "won" and not target.post_sale:
        return Refusal("the deal is won; it can only move between post-sale stages")
    if deal.status in ("lost", "disqualified"):
        return Refusal(f"the deal is {deal.status}; it cannot move")
    return None


def _override(process: Process, cmd: MoveDeal, actor: Actor, unmet: list[str]) -> Refusal | None:
    if not cmd.override:
        count = f"{len(unmet)} criteria unmet" if len(unmet) > 1 else "1 criterion unmet"
        return Refusal(f"cannot move to {cmd.to}: {count}", tuple(unmet), kind="gate")
    if refused := may_override(actor, process.overrides.roles, "override a gate"):
        return Refusal(refused, kind="forbidden")
    if not (cmd.reason or "").strip():
        return Refusal("an override needs a written reason", ("Give the reason for the override",))
    return None


def move_deal(deal: Deal, cmd: MoveDeal, *, process: Process, actor: Actor, now: datetime) -> Decision:
    """The events of moving ``deal`` to ``cmd.to``, or a refusal listing every reason."""
    if refusal := _check_target(deal, process, cmd):
        return refusal
    kind = classify(process, deal.stage, cmd.to)
    if isinstance(kind, Refusal):
        return kind
    stream = ev.deal_stream(deal.id)
    reason = (cmd.reason or "").strip() or None
    found: list[ev.Event] = []
    if kind == "backward":
        if reason is None:
            return Refusal("a backward move needs a reason", ("Say why the deal goes back",))
    else:
        gate = exit_gate(deal, process, cmd.to, now)
        if not gate.passed:
            unmet = [str(u) for u in gate.unmet]
            if refusal := _override(process, cmd, actor, unmet):
                return refusal
            data = {"from": deal.stage, "to": cmd.to, "unmet": unmet, "reason": reason}
            found.append(event(ev.GATE_OVERRIDDEN, stream, actor, now, **data))
    found.append(
        event(
            ev.DEAL_MOVED,
            stream,
            actor,
            now,
            **{
                "from": deal.stage,
                "to": cmd.to,
                "kind": kind,
                "reason": reason,
                "override": bool(found),
            },
        )
    )
    if needs_handoff(process, deal, cmd.to, cmd.handoff_to, cmd.handoff_to_roles):
        handoff = create_handoff(
            deal,
            process,
            to_stage=cmd.to,
            to_owner=cmd.handoff_to,
            to_roles=cmd.handoff_to_roles,
            actor=actor,
            now=now,
        )
        if isinstance(handoff, Refusal):
            return handoff
        found.extend(handoff)
    return found
