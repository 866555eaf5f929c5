"""Routing leads to their owners, out-of-office periods, and the speed-to-lead escalation.

The rules are pure (:mod:`dealflow.domain.routing`); here the reps are read with their open
leads and away periods, the pool's round-robin turn is taken by incrementing its row in the
assigning transaction (so concurrent posts on PostgreSQL queue on that row and never share a
turn), and every assignment is a LeadAssigned event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dealflow.domain import events as ev
from dealflow.domain import routing as rules
from dealflow.domain.decisions import Actor, event
from dealflow.domain.events import Event
from dealflow.domain.routing import Assignment, Plan, Rep
from dealflow.errors import Forbidden, InvalidInput, NotFound
from dealflow.process.lead_intake import Routing, SpeedToLead
from dealflow.process.models import Process
from dealflow.services.lookups import load_actor
from dealflow.services.recording import record_events
from dealflow.store import tables as t
from dealflow.store.processes import load_process
from dealflow.store.unit_of_work import UnitOfWork

SYSTEM = Actor(id="system", roles=())
BATCH = 500  # overdue leads escalated per transaction


def load_reps(connection: Connection, *, now: datetime) -> list[Rep]:
    """Every user as a possible owner: roles, team, open leads, and whether away at ``now``."""
    users = connection.execute(
        select(t.users.c.id, t.users.c.roles, t.users.c.team, t.users.c.away_from, t.users.c.away_until)
    ).all()
    ids = [u.id for u in users]
    counts: dict[str, int] = dict(
        connection.execute(
            select(t.leads.c.owner, func.count())
            .where(t.leads.c.status == "open", t.leads.c.owner.in_(ids))
            .group_by(t.leads.c.owner)
        ).all()
    )

    def away(u: Any) -> bool:
        return u.away_until is not None and u.away_until > now and (u.away_from is None or u.away_from <= now)

    return [
        Rep(id=u.id, roles=tuple(u.roles), team=u.team, open_leads=int(counts.get(u.id, 0)), away=away(u))
        for u in users
    ]


def take_turn(connection: Connection, pool: str) -> int:
    """The pool's next round-robin turn (0, 1, 2...): its row is incremented in this transaction,
    so the row stays locked until commit and no two assignments get the same turn."""
    bump = update(t.routing_turns).where(t.routing_turns.c.pool == pool).values(turns=t.routing_turns.c.turns + 1)
    found = connection.execute(bump.returning(t.routing_turns.c.turns)).scalar()
    if found is None:
        dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(dialect_insert(t.routing_turns).values(pool=pool, turns=0).on_conflict_do_nothing())
        found = connection.execute(bump.returning(t.routing_turns.c.turns)).scalar_one()
    return int(found) - 1


def assign(
    connection: Connection,
    *,
    process: Process,
    routing: Routing,
    fields: Mapping[str, Any],
    now: datetime,
    exclude: Iterable[str] = (),
) -> Assignment:
    """Who gets a lead with these fields under the process's routing (never nobody)."""
    reps = load_reps(connection, now=now)
    found = rules.plan(routing, fields, reps, pool_prefix=process.key, exclude=exclude)
    if found is None:
        raise NotFound("the workspace has no users to route leads to (add one with `dealflow user add`)")
    if isinstance(found, Plan):
        return rules.choose(found, take_turn(connection, found.pool))
    return found


def assigned_event(
    lead_id: str,
    assignment: Assignment,
    *,
    previous_owner: str | None,
    speed: SpeedToLead | None,
    actor: Actor,
    now: datetime,
) -> Event:
    """The LeadAssigned event of an assignment; it starts the speed-to-lead clock when there is one."""
    due = (now + speed.within).isoformat() if speed is not None else None
    return event(
        ev.LEAD_ASSIGNED, f"lead:{lead_id}", actor, now,
        owner=assignment.owner, previous_owner=previous_owner, rule=assignment.rule, reason=assignment.reason,
        sla_due_at=due,
    )  # fmt: skip


def route_new_lead(
    uow: UnitOfWork, *, lead_id: str, process: Process, fields: Mapping[str, Any], actor: Actor
) -> Assignment:
    """Route a lead just captured under ``process`` (round robin among its SDRs when it declares no
    routing): records LeadAssigned, in the capturing transaction. ``fields`` are the lead's (name,
    company, region...)."""
    routing = process.leads.routing or Routing()
    now = uow.clock()
    assignment = assign(uow.connection, process=process, routing=routing, fields=fields, now=now)
    speed = process.leads.speed_to_lead
    record_events(uow, [assigned_event(lead_id, assignment, previous_owner=None, speed=speed, actor=actor, now=now)])
    return assignment


def lead_fields(row: Any) -> dict[str, Any]:
    """A lead row's fields as routing rules read them."""
    return {**(row.fields or {}), "name": row.name, "company": row.company, "email": row.email, "source": row.source}


def reassign_lead(*, uow: UnitOfWork, actor_id: str, lead_id: str, process_key: str | None = None) -> Assignment:
    """Route an open lead again under its process (or ``process_key``), away from its owner."""
    row = uow.connection.execute(select(t.leads).where(t.leads.c.id == lead_id)).first()
    if row is None:
        raise NotFound(f"no lead '{lead_id}'")
    if row.status != "open":
        raise InvalidInput(f"lead {lead_id} is {row.status}; only open leads are routed", field="lead")
    actor = load_actor(uow.connection, user_id=actor_id)
    process = load_process(uow.connection, key=process_key or row.process or "standard")
    routing = process.leads.routing or Routing()
    now = uow.clock()
    assignment = assign(
        uow.connection, process=process, routing=routing, fields=lead_fields(row), now=now, exclude=[row.owner]
    )
    speed = process.leads.speed_to_lead
    record_events(
        uow, [assigned_event(lead_id, assignment, previous_owner=row.owner, speed=speed, actor=actor, now=now)]
    )
    uow.commit()
    return assignment


def set_away(
    *, uow: UnitOfWork, actor_id: str, user_id: str, until: datetime | None, since: datetime | None = None
) -> None:
    """Mark a user out of office from ``since`` (now) until ``until`` (None: back now); routing skips them."""
    actor = load_actor(uow.connection, user_id=actor_id)
    load_actor(uow.connection, user_id=user_id)
    if actor.id != user_id and not actor.holds("manager", "revops", "admin"):
        raise Forbidden("only the user, a manager, revops or admin may set someone's absence")
    now = uow.clock()
    start = since or now
    if until is not None and until <= start:
        raise InvalidInput(f"must be after {start.isoformat(timespec='minutes')}", field="until")
    data = {"away_from": start.isoformat() if until else None, "away_until": until.isoformat() if until else None}
    record_events(uow, [event(ev.USER_CHANGED, f"user:{user_id}", actor, now, **data)])
    uow.commit()


def _manager_of(connection: Connection, owner: str) -> str | None:
    team = connection.execute(select(t.users.c.team).where(t.users.c.id == owner)).scalar()
    if team is None:
        return None
    managers = connection.execute(select(t.users.c.id, t.users.c.roles).where(t.users.c.team == team)).all()
    return next((m.id for m in sorted(managers) if "manager" in m.roles), None)


def _escalate(uow: UnitOfWork, row: Any, now: datetime) -> None:
    connection = uow.connection
    process = load_process(connection, key=row.process)
    speed = process.leads.speed_to_lead or SpeedToLead()
    overdue = max(0, int((now - row.sla_due_at).total_seconds() // 60))
    since = int((now - row.sla_due_at + speed.within).total_seconds() // 60)
    owner = row.owner
    assignment: Assignment | None = None
    if speed.reassign:
        routing = process.leads.routing or Routing()
        assignment = assign(
            connection, process=process, routing=routing, fields=lead_fields(row), now=now, exclude=[row.owner]
        )
        owner = assignment.owner
    manager = _manager_of(connection, row.owner) if speed.escalate_to == "manager" else None
    found = [
        event(
            ev.LEAD_ESCALATED,
            f"lead:{row.id}",
            SYSTEM,
            now,
            previous_owner=row.owner,
            owner=owner,
            overdue_minutes=overdue,
            escalate_to=manager,
        )
    ]
    if assignment is not None and assignment.owner != row.owner:
        reason = (
            f"not touched within {int(speed.within.total_seconds() // 60)} min of assignment "
            f"({since} min); {assignment.reason}"
        )
        moved = Assignment(owner=assignment.owner, rule=assignment.rule, reason=reason)
        found.append(assigned_event(row.id, moved, previous_owner=row.owner, speed=speed, actor=SYSTEM, now=now))
    record_events(uow, found)


def escalate_overdue_leads(engine: Engine, now: datetime) -> int:
    """Escalate every open lead not touched within its process's speed-to-lead time: LeadEscalated
    (to the owner's manager), then reassignment by routing away from the owner when the process
    says so. Returns how many escalated; a second run at the same time finds none (the clock of
    an escalated lead stops, or restarts for its new owner)."""
    leads = t.leads
    total = 0
    while True:
        with UnitOfWork(engine, clock=lambda: now) as uow:
            query = (
                select(leads)
                .where(leads.c.sla_due_at <= now, leads.c.status == "open", leads.c.process.is_not(None))
                .order_by(leads.c.sla_due_at, leads.c.id)
                .limit(BATCH)
            )
            if uow.connection.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=leads)
            rows = uow.connection.execute(query).all()
            for row in rows:
                _escalate(uow, row, now)
            uow.commit()
        total += len(rows)
        if len(rows) < BATCH:
            return total
