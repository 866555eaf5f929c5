"""Ending a deal: won, lost or disqualified, each with its reason codes, fields and criteria."""

from __future__ import annotations

from datetime import datetime

from dealflow.domain import events as ev
from dealflow.domain.access import may_supervise
from dealflow.domain.commands import CloseDeal, ReopenDeal
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.decisions import Actor, Decision, Refusal, event
from dealflow.domain.fields import parse_fields
from dealflow.domain.gates import evaluate_criteria, required_fields
from dealflow.domain.handoffs import create_handoff, needs_handoff
from dealflow.process.models import Process

_EVENT = {"won": ev.DEAL_WON, "lost": ev.DEAL_LOST, "disqualified": ev.DEAL_DISQUALIFIED}


def _reason(process: Process, cmd: CloseDeal) -> Refusal | None:
    codes = getattr(process.outcomes, cmd.outcome).reasons
    if codes and cmd.reason not in codes:
        given = f"'{cmd.reason}' is not a reason code" if cmd.reason else "No reason code given"
        return Refusal(f"a {cmd.outcome} deal needs a reason code", (f"{given} (codes: {', '.join(codes)})",))
    return None


def close_deal(deal: Deal, cmd: CloseDeal, *, process: Process, actor: Actor, now: datetime) -> Decision:
    """The events of ending ``deal`` as ``cmd.outcome``, or a refusal listing every reason."""
    if cmd.outcome not in _EVENT:
        return Refusal(f"unknown outcome '{cmd.outcome}' (outcomes: won, lost, disqualified)")
    if deal.status != "open":
        return Refusal(f"the deal is already {deal.status}")
    if deal.handoff is not None:
        return Refusal(f"handoff {deal.handoff.id} awaits acceptance; settle it first")
    if refusal := _reason(process, cmd):
        return refusal
    stream = ev.deal_stream(deal.id)
    found: list[ev.Event] = []
    fields = parse_fields(process, cmd.fields)
    if fields:
        found.append(event(ev.FIELDS_UPDATED, stream, actor, now, fields=fields))
        deal = evolve(deal, found[-1])
    outcome = getattr(process.outcomes, cmd.outcome)
    unmet = [str(u) for u in required_fields(outcome.required, deal, process)]
    unmet += [str(u) for u in evaluate_criteria(outcome.criteria, deal, process, now).unmet]
    if cmd.outcome == "won" and deal.stage not in process.won_from:
        stages = ", ".join(process.stage(k).name for k in process.won_from)  # type: ignore[union-attr]
        unmet.insert(0, f"A deal is won only from: {stages}")
    if outcome.from_ and cmd.outcome != "won" and deal.stage not in outcome.from_:
        unmet.insert(0, f"A deal is {cmd.outcome} only from: {', '.join(outcome.from_)}")
    if unmet:
        return Refusal(f"the deal cannot be closed as {cmd.outcome}", tuple(unmet), kind="gate")
    found.append(event(_EVENT[cmd.outcome], stream, actor, now, reason=cmd.reason, stage=deal.stage))
    if cmd.outcome == "won":
        after = _into_post_sale(evolve(deal, found[-1]), cmd, process=process, actor=actor, now=now)
        if isinstance(after, Refusal):
            return after
        found.extend(after)
    return found


def _into_post_sale(deal: Deal, cmd: CloseDeal, *, process: Process, actor: Actor, now: datetime) -> Decision:
    """A won deal enters the first post-sale stage, handed to its owner role if it changes."""
    post = [s for s in process.stages if s.post_sale]
    if not post:
        return []
    stream = ev.deal_stream(deal.id)
    data = {
        "from": deal.stage,
        "to": post[0].key,
        "kind": "forward",
        "reason": None,
        "override": False,
    }
    moved = event(ev.DEAL_MOVED, stream, actor, now, **data)
    if not needs_handoff(process, deal, post[0].key, cmd.handoff_to, cmd.handoff_to_roles):
        return [moved]
    handoff = create_handoff(
        evolve(deal, moved).model_copy(update={"stage": deal.stage}),
        process,
        to_stage=post[0].key,
        to_owner=cmd.handoff_to,
        to_roles=cmd.handoff_to_roles,
        actor=actor,
        now=now,
    )
    if isinstance(handoff, Refusal):
        return handoff
    return [moved, *handoff]


def reopen_deal(deal: Deal, cmd: ReopenDeal, *, process: Process, actor: Actor, now: datetime) -> Decision:
    """The event of opening a closed deal again: a manager's call (revops and admins too), with a
    reason; it goes back to the stage it was closed in unless ``cmd.stage`` names a sales stage."""
    if deal.status == "open":
        return Refusal("the deal is open: only a won, lost or disqualified deal can be reopened")
    if refused := may_supervise(actor, "reopen a deal"):
        return Refusal(refused, kind="forbidden")
    if deal.handoff is not None:
        return Refusal(
            f"handoff {deal.handoff.id} to {deal.handoff.to_owner} awaits acceptance",
            ("The receiver sends it back (or accepts it) before the deal is reopened",),
        )
    if not cmd.reason.strip():
        return Refusal("say why the deal is reopened", ("Give the reason for reopening",))
    here = process.stage(deal.stage)
    stage = cmd.stage or (deal.stage if here is not None and not here.post_sale else process.won_from[-1])
    target = process.stage(stage)
    if target is None or target.post_sale:
        stages = ", ".join(s.key for s in process.sales_stages)
        return Refusal(f"'{stage}' is not a sales stage of {process.key}", (f"Sales stages: {stages}",))
    data = {"from_status": deal.status, "stage": stage, "reason": cmd.reason.strip()}
    return [event(ev.DEAL_REOPENED, ev.deal_stream(deal.id), actor, now, **data)]
