"""The inspection queue: open deals that need attention now, each with its reasons and a severity.

The rules are pure functions of a deal's facts (:func:`assess`); :func:`inspect_deals` gathers
those facts for the whole pipeline in a few queries (the process versions in use, the deals with
their next step and the handoff into their current stage, their amount history, the p80 time of
each stage), so it stays fast with thousands of open deals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Select, and_, func, literal, or_, select

from dealflow.analytics.percentiles import percentiles
from dealflow.domain import events as ev
from dealflow.domain.deals import overdue
from dealflow.process.criteria import NextStepSet
from dealflow.process.models import Process, Stage
from dealflow.store import tables as t
from dealflow.store.processes import load_process

Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")
_RANK: dict[Severity, int] = {"high": 3, "medium": 2, "low": 1}

THIN_HANDOFF = 0.6  # a handoff carrying less of its declared context than this is thin
SWING = Decimal("0.30")  # an amount change of 30% or more, up or down, is a swing
PUSHES = 2  # a close date pushed this many times or more is flagged
P80 = 0.8
DEFAULT_GRACE = timedelta(days=3)
P80_MIN_STAYS = 5  # fewer finished stays than this in a stage say nothing about its p80
DAY = 86_400.0


class Reason(BaseModel):
    """Why a deal needs attention, in plain words, with how much it matters."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    severity: Severity


class Finding(BaseModel):
    """One open deal that needs attention and every reason why."""

    model_config = ConfigDict(frozen=True)

    deal_id: str
    title: str
    owner: str
    team: str | None
    process: str
    stage: str
    stage_name: str
    stage_entered_at: datetime
    days_in_stage: float
    amount: Decimal | None
    close_date: date | None
    severity: Severity
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class StepFacts:
    """The deal's documented next step."""

    action: str
    due: datetime
    buyer_confirmed: bool


@dataclass(frozen=True)
class HandoffFacts:
    """The handoff that brought the deal into its current stage."""

    id: str
    to_owner: str
    status: str
    completeness: float
    due_at: datetime
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class DealFacts:
    """What the inspection rules look at for one open deal."""

    stage: str
    stage_entered_at: datetime
    close_date: date | None = None
    close_date_pushes: int = 0
    next_step: StepFacts | None = None
    handoff: HandoffFacts | None = None
    missing_fields: tuple[str, ...] = ()
    amounts_before: tuple[Decimal, ...] = ()  # amounts given before entering the current stage
    amounts_during: tuple[Decimal, ...] = ()  # and since
    entered_by: str = "gate"  # how it came into its stage (see dealflow.domain.deals.Entry)


@dataclass(frozen=True)
class Swing:
    """A large change of the amount: from ``base`` to ``current`` over a ``window``."""

    base: Decimal
    current: Decimal
    change: Decimal | None  # relative change; None when the base was 0
    window: Literal["stage", "recent"]


def _changes(values: Iterable[Decimal]) -> list[Decimal]:
    """The values with repeats of the one before dropped: each item after the first is a change."""
    found: list[Decimal] = []
    for value in values:
        if not found or value != found[-1]:
            found.append(value)
    return found


def amount_swing(before: Sequence[Decimal], during: Sequence[Decimal]) -> Swing | None:
    """The amount swing of a deal, if any.

    ``before`` holds the amounts the deal was given before it entered its current stage and
    ``during`` those given since, oldest first (clearing an amount is ignored). There is a swing
    only when the amount changed in the current stage, and the current amount differs by 30% or
    more, up or down, from either the amount in force when the deal entered the stage (the first
    one set in it when there was none), or the amount before its last three changes (the first
    one ever, when there were fewer). The larger of the two changes is reported."""
    if not during:
        return None
    start = before[-1] if before else during[0]
    if len(_changes([start, *during])) < 2:
        return None
    values = _changes([*before, *during])
    current = values[-1]
    recent = values[-4] if len(values) >= 4 else values[0]
    found = [s for s in (_swing(start, current, "stage"), _swing(recent, current, "recent")) if s]
    return max(found, key=lambda s: math.inf if s.change is None else abs(s.change), default=None)


def _swing(base: Decimal, current: Decimal, window: Literal["stage", "recent"]) -> Swing | None:
    if base == 0:
        return None if current == 0 else Swing(base, current, None, window)
    change = (current - base) / base
    return Swing(base, current, change, window) if abs(change) >= SWING else None


def overall_severity(reasons: Iterable[Reason]) -> Severity | None:
    """The most severe of the reasons, or None when there are none."""
    return max((r.severity for r in reasons), key=_RANK.__getitem__, default=None)


def at_least(severity: Severity, minimum: Severity) -> bool:
    """True when ``severity`` is ``minimum`` or more severe."""
    return _RANK[severity] >= _RANK[minimum]


def _days(seconds: float) -> str:
    days = seconds / DAY
    return f"{days:.0f} days" if days >= 2 else f"{days * 24:.0f} hours"


def _stalled(facts: DealFacts, stage: Stage, p80: float | None, now: datetime) -> list[Reason]:
    found = []
    elapsed = (now - facts.stage_entered_at).total_seconds()
    where = f"In {stage.name} for {_days(elapsed)}"
    if stage.sla is not None and elapsed > stage.sla.total_seconds():
        sla = stage.sla.total_seconds()
        severity: Severity = "high" if elapsed >= 2 * sla else "medium"
        message = f"{where}; its service level is {_days(sla)}"
        found.append(Reason(code="stalled_sla", message=message, severity=severity))
    if p80 is not None and elapsed > p80:
        message = f"{where}; 80% of past stays there ended within {_days(p80)}"
        found.append(Reason(code="stalled_p80", message=message, severity="medium"))
    return found


def _next_step(facts: DealFacts, stage: Stage, now: datetime) -> list[Reason]:
    step = facts.next_step
    if step is None:
        return [Reason(code="no_next_step", message="No next step set", severity="high")]
    if overdue(step.due, now):
        late = _days((now - step.due).total_seconds())
        message = f"Next step '{step.action}' was due {step.due:%Y-%m-%d} ({late} ago)"
        return [Reason(code="next_step_overdue", message=message, severity="high")]
    if step.buyer_confirmed:
        return []
    demanded = any(isinstance(c, NextStepSet) and c.buyer_confirmed for c in stage.exit)
    message = f"Next step '{step.action}' is not confirmed by the buyer"
    if demanded:
        message += f" (leaving {stage.name} needs it)"
    return [Reason(code="next_step_unconfirmed", message=message, severity="medium" if demanded else "low")]


def _handoff(facts: DealFacts, stage: Stage, now: datetime) -> list[Reason]:
    handoff = facts.handoff
    if handoff is None:
        return []
    found = []
    if handoff.status == "pending" and handoff.due_at < now:
        message = f"Handoff {handoff.id} to {handoff.to_owner} not accepted; it was due {handoff.due_at:%Y-%m-%d %H:%M}"
        found.append(Reason(code="handoff_unaccepted", message=message, severity="high"))
    if handoff.completeness < THIN_HANDOFF:
        message = f"Handoff {handoff.id} carried {handoff.completeness:.0%} of the context {stage.name} needs"
        if handoff.missing:
            message += f" (missing: {', '.join(handoff.missing)})"
        found.append(Reason(code="handoff_thin", message=message, severity="medium"))
    return found


def _entry(facts: DealFacts, process: Process, stage: Stage) -> list[Reason]:
    if facts.entered_by == "override":
        message = f"Entered {stage.name} by an override of its gate: check the evidence it lacked"
        return [Reason(code="entered_by_override", message=message, severity="medium")]
    if facts.entered_by == "forbidden":
        message = f"Reached {stage.name} by a move {process.name} does not allow (imported history)"
        return [Reason(code="forbidden_move", message=message, severity="medium")]
    return []


def _label(process: Process, name: str) -> str:
    spec = process.fields.get(name)
    return spec.label if spec and spec.label else name.replace("_", " ").capitalize()


def _close_date(facts: DealFacts, now: datetime) -> list[Reason]:
    found = []
    if facts.close_date is not None and facts.close_date < now.date():
        late = (now.date() - facts.close_date).days
        message = f"Close date {facts.close_date:%Y-%m-%d} is in the past ({late} day{'s' * (late != 1)} ago)"
        found.append(Reason(code="close_date_past", message=message, severity="medium"))
    if facts.close_date_pushes >= PUSHES:
        severity: Severity = "high" if facts.close_date_pushes > PUSHES else "medium"
        message = f"Close date pushed back {facts.close_date_pushes} times"
        found.append(Reason(code="close_date_pushed", message=message, severity=severity))
    return found


def _amount(facts: DealFacts, stage: Stage) -> list[Reason]:
    swing = amount_swing(facts.amounts_before, facts.amounts_during)
    if swing is None:
        return []
    window = f"since entering {stage.name}" if swing.window == "stage" else "over its last changes"
    figures = f"{swing.base:,.2f} to {swing.current:,.2f}"
    if swing.change is None:
        message = f"Amount went from {figures} {window}"
    else:
        direction = "rose" if swing.change > 0 else "fell"
        message = f"Amount {direction} {abs(swing.change):.0%} {window} ({figures})"
    return [Reason(code="amount_swing", message=message, severity="medium")]


def required_grace(stage: Stage) -> timedelta:
    """How long a deal may sit in ``stage`` before its missing required fields are flagged:
    half the stage's service level (3 days when it has none). A deal that has just arrived
    is expected to lack what it will capture there."""
    return stage.sla / 2 if stage.sla is not None else DEFAULT_GRACE


def assess(
    facts: DealFacts, process: Process, *, p80: float | None, now: datetime, stage: Stage | None = None
) -> tuple[Reason, ...]:
    """Every reason an open deal needs attention at ``now`` (empty when it is healthy)."""
    stage = stage or process.stage(facts.stage)
    if stage is None:
        return ()
    reasons = [*_stalled(facts, stage, p80, now), *_next_step(facts, stage, now), *_handoff(facts, stage, now)]
    reasons += _entry(facts, process, stage)
    if facts.missing_fields and now - facts.stage_entered_at >= required_grace(stage):
        labels = ", ".join(_label(process, name) for name in facts.missing_fields)
        message = f"Required in {stage.name} but not captured: {labels}"
        reasons.append(Reason(code="missing_required", message=message, severity="medium"))
    return (*reasons, *_close_date(facts, now), *_amount(facts, stage))


# --- Reading the facts of the whole pipeline -------------------------------------------------


def stage_p80(connection: Connection, *, processes: Iterable[str]) -> dict[tuple[str, str], float]:
    """The p80 time (seconds) of the finished stays of each (process, stage) with enough history."""
    v = t.stage_visits
    enough = (
        select(v.c.process, v.c.stage)
        .where(v.c.process.in_(set(processes)))
        .group_by(v.c.process, v.c.stage)
        .having(func.count() >= P80_MIN_STAYS)
        .subquery()
    )
    rows = select(v.c.process.label("k"), v.c.stage.label("g"), v.c.seconds.label("x")).join(
        enough, and_(enough.c.process == v.c.process, enough.c.stage == v.c.stage)
    )
    return {group: values[0] for group, values in percentiles(connection, rows, [P80]).items()}


def _filtered(query: Select[Any], *, owner: str | None, team: str | None, process: str | None) -> Select[Any]:
    d = t.deals
    query = query.where(d.c.status == "open")
    if owner is not None:
        query = query.where(d.c.owner == owner)
    if team is not None:
        query = query.where(d.c.owner.in_(select(t.users.c.id).where(t.users.c.team == team)))
    if process is not None:
        query = query.where(d.c.process == process)
    return query


def _main_query(required: Iterable[str]) -> Select[Any]:
    """Open deals with their next step, owner's team, the handoff into their current stage and,
    for each required field, whether the state holds it (read in SQL: no state is parsed)."""
    d, n, h, u = t.deals, t.next_steps, t.handoffs, t.users
    into_stage = and_(
        h.c.deal_id == d.c.id,
        h.c.to_stage == d.c.stage,
        h.c.created_at >= d.c.stage_entered_at,
        h.c.status.in_(("pending", "accepted")),
    )
    has = [d.c.state[("fields", name)].as_string().is_not(None).label(f"has_{name}") for name in sorted(required)]
    return (
        select(
            d.c.id,
            d.c.title,
            d.c.owner,
            u.c.team,
            d.c.process,
            d.c.process_version,
            d.c.stage,
            d.c.stage_entered_at,
            d.c.amount,
            d.c.close_date,
            d.c.close_date_pushes,
            n.c.action.label("step_action"),
            n.c.due.label("step_due"),
            n.c.buyer_confirmed.label("step_confirmed"),
            h.c.id.label("handoff_id"),
            h.c.to_owner.label("handoff_to"),
            h.c.status.label("handoff_status"),
            h.c.completeness.label("handoff_completeness"),
            h.c.due_at.label("handoff_due"),
            h.c.context.label("handoff_context"),
            d.c.state["entered_by"].as_string().label("entered_by"),
            *has,
        )
        .outerjoin(n, n.c.deal_id == d.c.id)
        .outerjoin(u, u.c.id == d.c.owner)
        .outerjoin(h, into_stage)
        .order_by(d.c.id, h.c.created_at)
    )


def _amount_history(
    connection: Connection, *, owner: str | None, team: str | None, process: str | None
) -> dict[str, tuple[list[Decimal], list[Decimal]]]:
    """The amounts given to each open deal that has one, oldest first, split into those given
    before it entered its current stage and those given since (read from its events, in order)."""
    d, e = t.deals, t.events
    amount = e.c.data[("fields", "amount")].as_string()
    entries = (ev.DEAL_MOVED, ev.HANDOFF_RETURNED)  # the events that start a new stay
    query = (
        select(d.c.id, e.c.type, amount.label("amount"))
        .join(e, e.c.stream == literal("deal:") + d.c.id)
        .where(
            d.c.amount.is_not(None),
            or_(
                and_(e.c.type.in_((ev.DEAL_CREATED, ev.FIELDS_UPDATED)), amount.is_not(None)),
                e.c.type.in_(entries),
            ),
        )
        .order_by(d.c.id, e.c.seq)
    )
    found: dict[str, tuple[list[Decimal], list[Decimal]]] = {}
    for row in connection.execute(_filtered(query, owner=owner, team=team, process=process)):
        before, during = found.setdefault(row.id, ([], []))
        if row.type in entries:
            before.extend(during)
            during.clear()
        else:
            during.append(Decimal(row.amount))
    return found


def _missing(context: Mapping[str, Any] | None, *, order: Sequence[str]) -> tuple[str, ...]:
    """The context items a handoff lacked, in the order the stage declares them."""
    empty = {k for k, v in (context or {}).items() if v in (None, "", [], {})}
    return tuple(k for k in order if k in empty)


def _facts(row: Any, stage: Stage, amounts: tuple[list[Decimal], list[Decimal]]) -> DealFacts:
    required = stage.required
    step = None if row.step_action is None else StepFacts(row.step_action, row.step_due, bool(row.step_confirmed))
    handoff = None
    if row.handoff_id is not None:
        handoff = HandoffFacts(
            id=row.handoff_id,
            to_owner=row.handoff_to,
            status=row.handoff_status,
            completeness=float(row.handoff_completeness),
            due_at=row.handoff_due,
            missing=_missing(row.handoff_context, order=stage.handoff.context),
        )
    return DealFacts(
        stage=row.stage,
        stage_entered_at=row.stage_entered_at,
        close_date=row.close_date,
        close_date_pushes=int(row.close_date_pushes or 0),
        next_step=step,
        handoff=handoff,
        missing_fields=tuple(name for name in required if not row._mapping[f"has_{name}"]),
        amounts_before=tuple(amounts[0]),
        amounts_during=tuple(amounts[1]),
        entered_by=row.entered_by or "gate",
    )


def inspect_deals(
    connection: Connection,
    *,
    now: datetime,
    owner: str | None = None,
    team: str | None = None,
    process: str | None = None,
) -> list[Finding]:
    """The open deals that need attention, most severe first, then the longest in their stage."""
    d = t.deals
    filters = {"owner": owner, "team": team, "process": process}
    versions = connection.execute(_filtered(select(d.c.process, d.c.process_version).distinct(), **filters)).all()
    processes = {(k, v): load_process(connection, key=k, version=v) for k, v in versions}
    if not processes:
        return []
    required = {name for p in processes.values() for s in p.stages for name in s.required}
    p80 = stage_p80(connection, processes=(k for k, _ in versions))
    amounts = _amount_history(connection, **filters)
    stages = {(k, v, s.key): s for (k, v), p in processes.items() for s in p.stages}
    rows = {row.id: row for row in connection.execute(_filtered(_main_query(required), **filters))}
    findings = []
    for row in rows.values():
        flow = processes[(row.process, row.process_version)]
        stage = stages.get((row.process, row.process_version, row.stage))
        if stage is None:
            continue
        facts = _facts(row, stage, amounts.get(row.id, ([], [])))
        reasons = assess(facts, flow, p80=p80.get((row.process, row.stage)), now=now, stage=stage)
        if (severity := overall_severity(reasons)) is None:
            continue
        findings.append(
            Finding(
                deal_id=row.id,
                title=row.title,
                owner=row.owner,
                team=row.team,
                process=row.process,
                stage=row.stage,
                stage_name=stage.name,
                stage_entered_at=row.stage_entered_at,
                days_in_stage=round((now - row.stage_entered_at) / timedelta(days=1), 2),
                amount=row.amount,
                close_date=row.close_date,
                severity=severity,
                reasons=reasons,
            )
        )
    findings.sort(key=lambda f: (-_RANK[f.severity], f.stage_entered_at, f.deal_id))
    return findings
