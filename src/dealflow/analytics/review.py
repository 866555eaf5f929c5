"""A deal review agenda answered from the event log: why each move happened and on what evidence,
whether the next step is buyer-confirmed, what context each handoff carried, and the friction
other deals of the same process met in the same stages."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, and_, case, distinct, func, select

from dealflow.analytics.evidence_trail import Check, EvidenceTrail, Proof, judge
from dealflow.analytics.inspection import THIN_HANDOFF
from dealflow.analytics.percentiles import percentiles
from dealflow.domain import events as ev
from dealflow.domain.deals import Deal, evolve, overdue
from dealflow.domain.events import Event
from dealflow.domain.gates import evaluate_criteria, exit_gate, required_fields
from dealflow.errors import NotFound
from dealflow.process.models import Process
from dealflow.store import tables as t
from dealflow.store.event_log import read_events
from dealflow.store.processes import load_process

MoveKind = Literal["created", "forward", "skip", "backward", "returned", "won", "lost", "disqualified", "reopened"]
_CLOSINGS: dict[str, MoveKind] = {ev.DEAL_WON: "won", ev.DEAL_LOST: "lost", ev.DEAL_DISQUALIFIED: "disqualified"}
_DAY = 86_400.0


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class Move(_Answer):
    """One change of stage or outcome and why it happened."""

    seq: int
    at: datetime
    actor: str
    kind: MoveKind
    from_stage: str
    from_name: str
    to_stage: str | None
    to_name: str | None
    reason: str | None = None
    overridden: bool = False
    unmet: tuple[str, ...] = ()  # what the gate lacked when it was overridden
    imported: bool = False
    checks: tuple[Check, ...] = ()


class NextStepAnswer(_Answer):
    """The deal's current next step and whether the buyer confirmed it."""

    action: str
    owner: str
    due: datetime
    buyer_confirmed: bool
    set_by: str
    set_at: datetime
    overdue: bool


class HandoffAnswer(_Answer):
    """A handoff: the context it carried and whether it was accepted or sent back."""

    id: str
    from_owner: str
    to_owner: str
    from_stage: str
    to_stage: str
    created_at: datetime
    due_at: datetime
    completeness: float
    missing: tuple[str, ...]
    status: Literal["pending", "accepted", "returned"] = "pending"
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    reason: str | None = None
    late: bool = False


class LostReason(_Answer):
    """A lost reason code and how many deals were lost from the stage with it."""

    reason: str
    deals: int


class Friction(_Answer):
    """How other deals of the same process fared in a stage this deal has been in."""

    stage: str
    stage_name: str
    other_deals: int  # other deals with a finished stay in the stage
    went_back: float | None  # shares of those deals (None when there are none)
    overridden: float | None
    lost: float | None
    lost_reasons: tuple[LostReason, ...]
    median_days: float | None
    this_deal_days: float


class AgendaAnswer(_Answer):
    """One answer of the agenda, with its supporting lines."""

    text: str
    details: tuple[str, ...] = ()


class AgendaItem(_Answer):
    """A numbered question of the review and its answers from the evidence."""

    number: int
    question: str
    answers: tuple[AgendaAnswer, ...]


class Review(_Answer):
    """Everything a deal review asks, answered from the deal's events."""

    deal_id: str
    title: str
    process: str
    process_version: int
    owner: str
    status: str
    stage: str
    stage_name: str
    as_of: datetime
    moves: tuple[Move, ...]
    next_step: NextStepAnswer | None
    handoffs: tuple[HandoffAnswer, ...]
    next_stage: str | None  # the stage the current one leads to, when the deal is still open
    still_lacks: tuple[str, ...]
    friction: tuple[Friction, ...]
    agenda: tuple[AgendaItem, ...] = ()


# --- Replaying the deal's history --------------------------------------------------------------


@dataclass
class _History:
    deal: Deal | None = None
    moves: list[Move] = field(default_factory=list)
    handoffs: dict[str, HandoffAnswer] = field(default_factory=dict)
    trail: EvidenceTrail = field(default_factory=EvidenceTrail)
    override: Event | None = None


def _name(process: Process, key: str | None) -> str | None:
    if key is None:
        return None
    stage = process.stage(key)
    return stage.name if stage else key


def _moved(seq: int, event: Event, deal: Deal, process: Process, history: _History) -> Move:
    data = event.data
    override, history.override = history.override, None
    checks: tuple[Check, ...] = ()
    here, there = process.stage(data["from"]), process.stage(data["to"])
    if data["kind"] != "backward" and not data.get("imported") and here is not None and there is not None:
        checks = judge(deal, process, here.required, (*here.exit, *there.entry), event.at, history.trail)
    return Move(
        seq=seq,
        at=event.at,
        actor=event.actor,
        kind=data["kind"],
        from_stage=data["from"],
        from_name=_name(process, data["from"]) or data["from"],
        to_stage=data["to"],
        to_name=_name(process, data["to"]),
        reason=data.get("reason") or (override.data.get("reason") if override else None),
        overridden=bool(data.get("override")),
        unmet=tuple(override.data.get("unmet", ())) if override else (),
        imported=bool(data.get("imported")),
        checks=checks,
    )


def _created_past_gate(seq: int, event: Event, process: Process) -> Move:
    """A deal created by an override in a stage its process does not create deals in (or whose
    entry criteria it lacked)."""
    data = event.data
    return Move(
        seq=seq,
        at=event.at,
        actor=event.actor,
        kind="created",
        from_stage="",
        from_name="(new)",
        to_stage=data["stage"],
        to_name=_name(process, data["stage"]),
        reason=data.get("reason"),
        overridden=True,
        unmet=tuple(data.get("unmet", ())),
    )


def _closed(seq: int, event: Event, deal: Deal, process: Process, history: _History) -> Move:
    kind = _CLOSINGS[event.type]
    outcome = getattr(process.outcomes, kind)
    imported = bool(event.data.get("imported"))
    checks = () if imported else judge(deal, process, outcome.required, outcome.criteria, event.at, history.trail)
    return Move(
        seq=seq,
        at=event.at,
        actor=event.actor,
        kind=kind,
        from_stage=deal.stage,
        from_name=_name(process, deal.stage) or deal.stage,
        to_stage=None,
        to_name=None,
        reason=event.data.get("reason"),
        imported=imported,
        checks=checks,
    )


def _handoff_event(seq: int, event: Event, deal: Deal | None, process: Process, history: _History) -> None:
    data = event.data
    match event.type:
        case ev.HANDOFF_CREATED:
            history.handoffs[data["id"]] = HandoffAnswer(
                id=data["id"],
                from_owner=data["from_owner"],
                to_owner=data["to_owner"],
                from_stage=data["from_stage"],
                to_stage=data["to_stage"],
                created_at=event.at,
                due_at=datetime.fromisoformat(data["due_at"]),
                completeness=float(data["completeness"]),
                missing=tuple(data.get("missing") or ()),
            )
        case ev.HANDOFF_ACCEPTED | ev.HANDOFF_RETURNED:
            pending = history.handoffs.get(data["id"])
            if pending is None:
                return
            status = "accepted" if event.type == ev.HANDOFF_ACCEPTED else "returned"
            resolved = {"status": status, "resolved_by": event.actor, "resolved_at": event.at}
            late = event.at > pending.due_at
            history.handoffs[data["id"]] = pending.model_copy(
                update={**resolved, "reason": data.get("reason"), "late": late}
            )
            if event.type == ev.HANDOFF_RETURNED and deal is not None:
                history.moves.append(
                    Move(
                        seq=seq,
                        at=event.at,
                        actor=event.actor,
                        kind="returned",
                        from_stage=deal.stage,
                        from_name=_name(process, deal.stage) or deal.stage,
                        to_stage=pending.from_stage,
                        to_name=_name(process, pending.from_stage),
                        reason=data.get("reason"),
                    )
                )


def _replay(connection: Connection, deal_id: str, process: Process) -> _History:
    history = _History()
    for seq, _version, event in read_events(connection, stream=ev.deal_stream(deal_id)):
        deal = history.deal
        if event.type == ev.DEAL_CREATED and event.data.get("override"):
            history.moves.append(_created_past_gate(seq, event, process))
        elif event.type == ev.GATE_OVERRIDDEN:
            history.override = event
        elif event.type == ev.DEAL_MOVED and deal is not None:
            history.moves.append(_moved(seq, event, deal, process, history))
        elif event.type in _CLOSINGS and deal is not None:
            history.moves.append(_closed(seq, event, deal, process, history))
        elif event.type in (ev.HANDOFF_CREATED, ev.HANDOFF_ACCEPTED, ev.HANDOFF_RETURNED):
            _handoff_event(seq, event, deal, process, history)
        history.deal = evolve(deal, event)
        history.trail.record(seq, event)
    return history


# --- Friction on similar deals ------------------------------------------------------------------


def _ratio(count: Any, total: int) -> float | None:
    return round(int(count) / total, 4) if total else None


def _friction(connection: Connection, deal: Deal, process: Process, now: datetime) -> tuple[Friction, ...]:
    """For each stage this deal has been in: how the other deals of its process fared there."""
    v, d = t.stage_visits, t.deals
    mine = dict(
        connection.execute(
            select(v.c.stage, func.sum(v.c.seconds)).where(v.c.deal_id == deal.id).group_by(v.c.stage)
        ).all()
    )
    here = {deal.stage: (now - deal.stage_entered_at).total_seconds()} if deal.status == "open" else {}
    stages = [s.key for s in process.stages if s.key in mine or s.key in here]
    others = and_(v.c.process == deal.process, v.c.stage.in_(stages), v.c.deal_id != deal.id)

    def deals_where(condition: Any) -> Any:
        return func.count(distinct(case((condition, v.c.deal_id))))

    counts = {
        row.stage: row
        for row in connection.execute(
            select(
                v.c.stage,
                func.count(distinct(v.c.deal_id)).label("deals"),
                deals_where(v.c.exit.in_(("backward", "returned"))).label("went_back"),
                deals_where(v.c.overridden.is_(True)).label("overridden"),
                deals_where(v.c.exit == "lost").label("lost"),
            )
            .where(others)
            .group_by(v.c.stage)
        )
    }
    reasons: dict[str, list[LostReason]] = defaultdict(list)
    lost = (
        select(v.c.stage, d.c.outcome_reason, func.count(distinct(v.c.deal_id)).label("deals"))
        .join(d, d.c.id == v.c.deal_id)
        .where(others, v.c.exit == "lost")
        .group_by(v.c.stage, d.c.outcome_reason)
        .order_by(func.count(distinct(v.c.deal_id)).desc(), d.c.outcome_reason)
    )
    for row in connection.execute(lost):
        reasons[row.stage].append(LostReason(reason=row.outcome_reason or "unknown", deals=row.deals))
    per_deal = (
        select(v.c.process, v.c.stage, v.c.deal_id, func.sum(v.c.seconds).label("seconds"))
        .where(others)
        .group_by(v.c.process, v.c.stage, v.c.deal_id)
        .subquery()
    )
    totals = select(per_deal.c.process.label("k"), per_deal.c.stage.label("g"), per_deal.c.seconds.label("x"))
    medians = {group: values[0] for group, values in percentiles(connection, totals, [0.5]).items()}
    found = []
    for key in stages:
        tally = counts.get(key)
        total = int(tally.deals) if tally else 0
        median = medians.get((deal.process, key))
        found.append(
            Friction(
                stage=key,
                stage_name=_name(process, key) or key,
                other_deals=total,
                went_back=_ratio(tally.went_back, total) if tally else None,
                overridden=_ratio(tally.overridden, total) if tally else None,
                lost=_ratio(tally.lost, total) if tally else None,
                lost_reasons=tuple(reasons.get(key, ())[:3]),
                median_days=None if median is None else round(median / _DAY, 2),
                this_deal_days=round((float(mine.get(key, 0.0)) + here.get(key, 0.0)) / _DAY, 2),
            )
        )
    return tuple(found)


def _still_lacks(deal: Deal, process: Process, now: datetime) -> tuple[str | None, tuple[str, ...]]:
    """The stage an open deal heads to next and what its gate still lacks."""
    if deal.status != "open":
        return None, ()
    position = process.index(deal.stage)
    following = process.stages[position + 1] if position + 1 < len(process.stages) else None
    if following is not None and not following.post_sale:
        return following.key, tuple(str(u) for u in exit_gate(deal, process, following.key, now).unmet)
    won = process.outcomes.won
    lacks = [*required_fields(won.required, deal, process), *evaluate_criteria(won.criteria, deal, process, now).unmet]
    return "won", tuple(str(u) for u in lacks)


def review_deal(connection: Connection, *, deal_id: str, now: datetime) -> Review:
    """The review of one deal, answered from its events (NotFound when there is no such deal)."""
    d = t.deals
    row = connection.execute(select(d.c.process, d.c.process_version).where(d.c.id == deal_id)).first()
    if row is None:
        raise NotFound(f"no deal '{deal_id}'")
    process = load_process(connection, key=row.process, version=row.process_version)
    history = _replay(connection, deal_id, process)
    deal = history.deal
    if deal is None:
        raise NotFound(f"no deal '{deal_id}'")
    step = deal.next_step
    next_step = None
    if step is not None:
        next_step = NextStepAnswer(
            action=step.action,
            owner=step.owner,
            due=step.due,
            buyer_confirmed=step.buyer_confirmed,
            set_by=step.by,
            set_at=step.at,
            overdue=overdue(step.due, now),
        )
    next_stage, lacks = _still_lacks(deal, process, now)
    review = Review(
        deal_id=deal.id,
        title=deal.title,
        process=deal.process,
        process_version=deal.process_version,
        owner=deal.owner,
        status=deal.status,
        stage=deal.stage,
        stage_name=_name(process, deal.stage) or deal.stage,
        as_of=now,
        moves=tuple(history.moves),
        next_step=next_step,
        handoffs=tuple(history.handoffs.values()),
        next_stage=next_stage,
        still_lacks=lacks,
        friction=_friction(connection, deal, process, now),
    )
    return review.model_copy(update={"agenda": agenda(review, process)})


# --- The agenda, in words -----------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _proof_line(proof: Proof) -> str:
    event = f", event {proof.seq}" if proof.seq is not None else ""
    return f"{proof.what} ({proof.by}, {_when(proof.at)}{event})"


def _check_lines(checks: tuple[Check, ...]) -> tuple[str, ...]:
    lines = []
    for c in checks:
        if c.met:
            shown = "; ".join(_proof_line(p) for p in c.evidence) or "met"
            lines.append(f"[x] {c.requirement}: {shown}")
        else:
            detail = f" ({c.detail})" if c.detail else ""
            lines.append(f"[ ] {c.message}{detail}")
    return tuple(lines)


def _move_answer(move: Move) -> AgendaAnswer:
    head = f"{_when(move.at)} {move.actor}"
    if move.imported:
        target = move.to_name or move.kind
        return AgendaAnswer(text=f"{head}: {move.from_name} -> {target}, recorded by an import (no gate was run)")
    match move.kind:
        case "created":
            text = f"{head} created it in {move.to_name} past the process's creation rule (override): '{move.reason}'"
            return AgendaAnswer(text=text, details=tuple(f"[ ] unmet at the time: {u}" for u in move.unmet))
        case "backward":
            return AgendaAnswer(text=f"{head} moved it back from {move.from_name} to {move.to_name}: '{move.reason}'")
        case "returned":
            text = f"{head} sent it back at handoff from {move.from_name} to {move.to_name}: '{move.reason}'"
            return AgendaAnswer(text=text)
        case "won" | "lost" | "disqualified":
            text = f"{head} closed it as {move.kind} in {move.from_name} (reason: {move.reason})"
            return AgendaAnswer(text=text, details=_check_lines(move.checks))
    step = f"{move.from_name} -> {move.to_name}" + (" (a skip)" if move.kind == "skip" else "")
    if move.overridden:
        text = f"{head} moved it {step} past a failed gate (override): '{move.reason}'"
        unmet = tuple(f"[ ] unmet at the time: {u}" for u in move.unmet)
        return AgendaAnswer(
            text=text, details=(*unmet, *(line for line in _check_lines(move.checks) if line.startswith("[x]")))
        )
    return AgendaAnswer(
        text=f"{head} moved it {step}; the gate passed on this evidence:", details=_check_lines(move.checks)
    )


def _next_step_answer(review: Review) -> AgendaAnswer:
    step = review.next_step
    if step is None:
        return AgendaAnswer(text="No: no next step is set.")
    said = f"'{step.action}' owned by {step.owner}, due {_when(step.due)}, set by {step.set_by} on {_when(step.set_at)}"
    if step.overdue:
        return AgendaAnswer(text=f"No: {said} is overdue.")
    if step.buyer_confirmed:
        return AgendaAnswer(text=f"Yes: {said}, confirmed by the buyer.")
    return AgendaAnswer(text=f"No: {said}, not confirmed by the buyer.")


def _handoff_answer(h: HandoffAnswer, process: Process) -> AgendaAnswer:
    verdict = "enough context" if h.completeness >= THIN_HANDOFF else "thin context"
    stages = f"{_name(process, h.from_stage)} -> {_name(process, h.to_stage)}"
    carried = f"carried {h.completeness:.0%} of the context asked for: {verdict}"
    text = f"{h.id} {h.from_owner} -> {h.to_owner} ({stages}) {carried}"
    details = [f"missing: {', '.join(h.missing)}"] if h.missing else []
    late = " (late)" if h.late else ""
    match h.status:
        case "accepted":
            details.append(f"accepted by {h.resolved_by} on {_when(h.resolved_at or h.created_at)}{late}")
        case "returned":
            details.append(
                f"sent back by {h.resolved_by} on {_when(h.resolved_at or h.created_at)}{late}: '{h.reason}'"
            )
        case _:
            details.append(f"awaiting acceptance by {h.to_owner}, due {_when(h.due_at)}")
    return AgendaAnswer(text=text, details=tuple(details))


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _friction_answer(f: Friction) -> AgendaAnswer:
    if not f.other_deals:
        text = f"{f.stage_name}: no other deal of this process has left it yet"
        return AgendaAnswer(text=f"{text} (this deal: {f.this_deal_days:.1f} days).")
    text = (
        f"{f.stage_name}: of {f.other_deals} other deals that were there, {_share(f.went_back)} went back, "
        f"{_share(f.overridden)} left it by an override, {_share(f.lost)} were lost there"
    )
    details = []
    if f.lost_reasons:
        details.append("most common lost reasons: " + ", ".join(f"{r.reason} ({r.deals})" for r in f.lost_reasons))
    median = "n/a" if f.median_days is None else f"{f.median_days:.1f} days"
    details.append(f"median time there {median}; this deal {f.this_deal_days:.1f} days")
    return AgendaAnswer(text=text, details=tuple(details))


def agenda(review: Review, process: Process) -> tuple[AgendaItem, ...]:
    """The review as numbered questions, each answered from the evidence."""
    moves = tuple(_move_answer(m) for m in review.moves) or (
        AgendaAnswer(text=f"It has not moved: it is still in {review.stage_name}."),
    )
    handoffs = tuple(_handoff_answer(h, process) for h in review.handoffs) or (
        AgendaAnswer(text="No handoff so far: the deal has stayed with one owner role."),
    )
    items = [
        ("Why did it move, and what evidence supported each move?", moves),
        ("Is the next step confirmed by the buyer?", (_next_step_answer(review),)),
        ("Did the previous owner pass enough context?", handoffs),
        ("What friction repeats on similar deals?", tuple(_friction_answer(f) for f in review.friction)),
    ]
    if review.next_stage is not None:
        target = "be won" if review.next_stage == "won" else f"move to {_name(process, review.next_stage)}"
        question = f"What does {review.stage_name} still need before it can {target}?"
        lacks = tuple(AgendaAnswer(text=f"[ ] {u}") for u in review.still_lacks) or (
            AgendaAnswer(text="Nothing: the gate passes today."),
        )
        items.append((question, lacks))
    return tuple(AgendaItem(number=i, question=q, answers=a) for i, (q, a) in enumerate(items, start=1))


def agenda_text(review: Review) -> str:
    """The agenda as plain text: a heading, then each numbered question with its answers."""
    lines = [
        f"Review of {review.deal_id} {review.title}: {review.stage_name}, owned by {review.owner} ({review.status})"
    ]
    for item in review.agenda:
        lines += ["", f"{item.number}. {item.question}"]
        for answer in item.answers:
            lines.append(f"   - {answer.text}")
            lines += [f"       {detail}" for detail in answer.details]
    return "\n".join(lines)
