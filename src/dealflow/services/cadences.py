"""Use cases on cadences: start one, record a touch, stop one; the due pass; a subject's next touch.

A subject is a lead or a deal, named ``L-3`` / ``D-7`` (or ``lead:L-3`` / ``deal:D-7``). A
lead's cadence starts at capture (:func:`start_lead_cadence`, called inside
``services.leads.capture_lead``); a deal's on request, or at creation when the process says
``cadence: {start: on_create}`` (:func:`start_on_deal_created`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, select

from dealflow.domain import cadences as rules
from dealflow.domain.cadences import CadenceRun
from dealflow.domain.deals import Deal
from dealflow.domain.decisions import Actor, Decision, Refusal
from dealflow.domain.events import Event
from dealflow.errors import InvalidInput, NotFound
from dealflow.process.cadences import SubjectKind, cadence_for, plan, starts_on_create
from dealflow.process.models import Process
from dealflow.services import access
from dealflow.services.lookups import load_actor, load_deal, refuse
from dealflow.services.recording import record_deal_events, record_events
from dealflow.store import cadence_tasks as tasks
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.processes import default_process_key, load_process
from dealflow.store.unit_of_work import UnitOfWork

_LEAD_ID = re.compile(r"^L-\d{1,9}$")


def subject_of(text: str) -> str:
    """The stream name of a lead or deal given as ``L-3``, ``D-7``, ``lead:L-3`` or ``deal:D-7``."""
    value = text.strip()
    if not value or len(value) > 70:
        raise InvalidInput("give a lead or deal id, like L-3 or D-7", field="subject")
    if value.startswith(("lead:", "deal:")):
        return value
    return f"lead:{value}" if _LEAD_ID.match(value) else f"deal:{value}"


def kind_of(subject: str) -> SubjectKind:
    """Whether a subject is a lead or a deal."""
    return "lead" if subject.startswith("lead:") else "deal"


def check_access(connection: Connection, *, actor: Actor, subject: str, change: bool = False) -> None:
    """Check the actor may see (or with ``change``, change) the lead or deal."""
    key = subject.split(":", 1)[1]
    if kind_of(subject) == "lead":
        access.lead(connection, actor=actor, lead_id=key, change=change)
    else:
        access.deal(connection, actor=actor, deal_id=key, change=change)


def lead_process(connection: Connection, *, process_key: str | None = None) -> Process | None:
    """The process whose ``leads:`` rules apply: the one named, else the default one (see
    :func:`dealflow.store.processes.default_process_key`); None in a workspace with no process."""
    key = process_key or default_process_key(connection)
    return None if key is None else load_process(connection, key=key)


@dataclass(frozen=True)
class _Subject:
    status: str
    owner: str
    process: Process | None
    deal: Deal | None = None


def _load_subject(connection: Connection, subject: str, *, with_process: bool = True) -> _Subject:
    """A lead's or deal's status and owner, and (``with_process``) the process its cadence comes from."""
    key = subject.split(":", 1)[1]
    if kind_of(subject) == "lead":
        row = queries.get_lead(connection, lead_id=key)
        if row is None:
            raise NotFound(f"no lead '{key}'")
        process = lead_process(connection, process_key=row.process) if with_process else None
        return _Subject(status=row.status, owner=row.owner, process=process)
    deal = load_deal(connection, deal_id=key)
    process = load_process(connection, key=deal.process, version=deal.process_version)
    return _Subject(status=deal.status, owner=deal.owner, process=process, deal=deal)


def _record(uow: UnitOfWork, found: _Subject, decision: Decision) -> tuple[list[Event], Deal | None]:
    """Record a decision on the subject's stream; the events and (for a deal) the deal after them."""
    if isinstance(decision, Refusal):
        refuse(decision)
    if found.deal is not None:
        return decision, record_deal_events(uow, deal=found.deal, found=decision)
    record_events(uow, decision)
    return decision, None


def _start(uow: UnitOfWork, actor: Actor, subject: str, found: _Subject) -> tuple[list[Event], Deal | None]:
    cadence = cadence_for(found.process, kind_of(subject))
    now = uow.clock()
    running = tasks.running(uow.connection, subject=subject) is not None
    decision = rules.start_cadence(
        subject, cadence, plan(cadence, now.date()), owner=found.owner, status=found.status, running=running,
        actor=actor, now=now,
    )  # fmt: skip
    return _record(uow, found, decision)


def start_lead_cadence(*, uow: UnitOfWork, actor: Actor, lead_id: str, process_key: str | None = None) -> None:
    """Start a just-captured lead's cadence when its process starts lead cadences at capture (the
    caller commits: this runs inside the capture's unit of work)."""
    subject = f"lead:{lead_id}"
    found = _load_subject(uow.connection, subject, with_process=False)
    process = lead_process(uow.connection, process_key=process_key)
    if not starts_on_create(cadence_for(process, "lead"), "lead"):
        return
    _start(uow, actor, subject, _Subject(found.status, found.owner, process))


def start_on_deal_created(*, uow: UnitOfWork, actor: Actor, deal: Deal, process: Process) -> Deal:
    """Start a new deal's cadence when its process says so; the deal after it (the caller commits)."""
    if not starts_on_create(process.cadence, "deal"):
        return deal
    found = _Subject(status=deal.status, owner=deal.owner, process=process, deal=deal)
    _events, after = _start(uow, actor, f"deal:{deal.id}", found)
    return after or deal


def start_cadence(*, uow: UnitOfWork, actor_id: str, subject: str) -> CadenceRun:
    """Start the cadence of a lead or deal that has none running; the cadence started."""
    actor = load_actor(uow.connection, user_id=actor_id)
    _start(uow, actor, subject, _load_subject(uow.connection, subject))
    started = tasks.running(uow.connection, subject=subject)
    assert started is not None
    uow.commit()
    return started


@dataclass(frozen=True)
class TouchRecorded:
    """The touch just recorded, and why the cadence ended with it (None while it runs on)."""

    subject: str
    step: int
    channel: str
    outcome: str
    stopped: str | None


def record_touch(
    *, uow: UnitOfWork, actor_id: str, subject: str, outcome: str = "none", note: str | None = None
) -> TouchRecorded:
    """Record the next open touch of a subject's cadence, with what came of it."""
    actor = load_actor(uow.connection, user_id=actor_id)
    found = _load_subject(uow.connection, subject, with_process=False)
    run = tasks.running(uow.connection, subject=subject)
    decision = rules.record_touch(subject, run, outcome=outcome, note=note, actor=actor, now=uow.clock())
    recorded, _after = _record(uow, found, decision)
    uow.commit()
    done, *rest = recorded
    return TouchRecorded(
        subject=subject, step=done.data["step"], channel=done.data["channel"], outcome=outcome,
        stopped=rest[0].data["reason"] if rest else None,
    )  # fmt: skip


def stop_cadence(*, uow: UnitOfWork, actor_id: str, subject: str) -> None:
    """Stop a subject's running cadence by hand."""
    actor = load_actor(uow.connection, user_id=actor_id)
    found = _load_subject(uow.connection, subject, with_process=False)
    decision = rules.stop_cadence(subject, tasks.running(uow.connection, subject=subject), actor=actor, now=uow.clock())
    _record(uow, found, decision)
    uow.commit()


def overdue_touches(engine: Engine, now: datetime) -> int:
    """How many next touches are overdue now, over every owner: an open touch whose day has gone by
    (worked out from its due day, never stored). One range read of the (status, due_on) index."""
    with engine.connect() as connection:
        return tasks.count_overdue(connection, today=tasks.as_of(now))


@dataclass(frozen=True)
class NextTouch:
    """What happens next on a lead or deal: a cadence touch or the deal's next step."""

    kind: str  # "cadence" or "next_step"
    what: str
    due_on: date
    owner: str
    channel: str | None = None
    step: int | None = None
    steps: int | None = None
    cadence: str | None = None
    buyer_confirmed: bool | None = None

    def overdue(self, today: date) -> bool:
        """True when its day has gone by."""
        return tasks.overdue(self.due_on, today)


def next_touch(connection: Connection, subject: str) -> NextTouch | None:
    """A lead's or deal's next touch: its next cadence task or (for a deal) its next step, whichever
    is due first; None when it has neither."""
    found: list[NextTouch] = []
    task = tasks.next_task(connection, subject=subject)
    if task is not None:
        steps = len([r for r in tasks.subject_tasks(connection, subject=subject) if r.run == task.run])
        found.append(
            NextTouch(
                kind="cadence", what=task.template or f"{task.channel} touch", due_on=task.due_on, owner=task.owner,
                channel=task.channel, step=task.step, steps=steps, cadence=task.cadence,
            )
        )  # fmt: skip
    if kind_of(subject) == "deal":
        n, d = t.next_steps.c, t.deals.c
        query = (
            select(n.action, n.due, n.owner, n.buyer_confirmed)
            .join_from(t.next_steps, t.deals, d.id == n.deal_id)
            .where(n.deal_id == subject.split(":", 1)[1], d.status == "open")
        )
        row = connection.execute(query).first()
        if row is not None:
            step = NextTouch(
                kind="next_step", what=row.action, due_on=row.due.astimezone(UTC).date(), owner=row.owner,
                buyer_confirmed=row.buyer_confirmed,
            )  # fmt: skip
            found.insert(0, step)  # on the same day, the step agreed with the buyer comes first
    return min(found, key=lambda touch: touch.due_on) if found else None
