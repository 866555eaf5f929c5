"""Service levels missed: deals past their stage's ``sla`` and handoffs not accepted in time.

One set-based query per stage with a limit (and one for handoffs) finds what is late and not yet
flagged; each finding becomes one SlaBreached event on the deal's stream, recorded once per stage
visit (deal, stage, entered at) or handoff: the ``sla_breaches`` table, projected from those
events, is what the query leaves out. Running the check again, or on two workers at once, flags
nothing twice (the second writer of a deal's event is refused by the event log's unique version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, select

from dealflow.domain.events import Event
from dealflow.domain.service_levels import handoff_breach, stage_breach
from dealflow.errors import Conflict
from dealflow.services.lookups import load_deal
from dealflow.services.recording import record_deal_events
from dealflow.store import tables as t
from dealflow.store.processes import load_process
from dealflow.store.unit_of_work import UnitOfWork

BATCH = 200  # deals recorded per transaction


@dataclass(frozen=True)
class Breach:
    """One missed service level: the SlaBreached event for ``deal_id``'s stream."""

    deal_id: str
    event: Event


def _not_flagged(kind: str, subject: Any, since: Any) -> Any:
    b = t.sla_breaches
    return ~exists().where(and_(b.c.kind == kind, b.c.subject == subject, b.c.since == since))


def stage_breaches(connection: Connection, now: datetime) -> list[Breach]:
    """Open deals in a stage longer than its ``sla`` allows, not flagged for this stay yet."""
    d = t.deals
    found: list[Breach] = []
    versions = connection.execute(select(t.processes.c.key, t.processes.c.version)).all()
    for key, version in versions:
        process = load_process(connection, key=key, version=version)
        for stage in process.stages:
            if stage.sla is None:
                continue
            query = select(d.c.id, d.c.owner, d.c.stage_entered_at).where(
                d.c.status == "open",
                d.c.process == key,
                d.c.stage == stage.key,
                d.c.stage_entered_at < now - stage.sla,
                d.c.process_version == version,
                _not_flagged("stage", d.c.id, d.c.stage_entered_at),
            )
            for row in connection.execute(query):
                late = stage_breach(
                    row.id, stage=stage.key, owner=row.owner, entered_at=row.stage_entered_at, sla=stage.sla, now=now
                )
                if late is not None:
                    found.append(Breach(row.id, late))
    return found


def handoff_breaches(connection: Connection, now: datetime) -> list[Breach]:
    """Handoffs still waiting for their receiver past their deadline, not flagged yet."""
    h = t.handoffs
    query = select(h.c.id, h.c.deal_id, h.c.to_owner, h.c.to_stage, h.c.created_at, h.c.due_at).where(
        h.c.status == "pending", h.c.due_at < now, _not_flagged("handoff", h.c.id, h.c.created_at)
    )
    found = []
    for row in connection.execute(query):
        late = handoff_breach(
            row.deal_id,
            handoff_id=row.id,
            stage=row.to_stage,
            receiver=row.to_owner,
            created_at=row.created_at,
            due_at=row.due_at,
            now=now,
        )
        if late is not None:
            found.append(Breach(row.deal_id, late))
    return found


def _record(uow: UnitOfWork, breaches: Sequence[Breach], now: datetime) -> None:
    by_deal: dict[str, list[Breach]] = {}
    for breach in breaches:
        by_deal.setdefault(breach.deal_id, []).append(breach)
    for deal_id, found in by_deal.items():
        deal = load_deal(uow.connection, deal_id=deal_id)
        record_deal_events(uow, deal=deal, found=[b.event for b in found])


def record_sla_breaches(engine: Engine, now: datetime) -> int:
    """Flag every stage stay and handoff past its service level at ``now``; returns how many."""
    with engine.connect() as connection:
        found = stage_breaches(connection, now) + handoff_breaches(connection, now)
    done = 0
    deals = list(dict.fromkeys(b.deal_id for b in found))
    for start in range(0, len(deals), BATCH):
        chunk = set(deals[start : start + BATCH])
        batch = [b for b in found if b.deal_id in chunk]
        try:
            with UnitOfWork(engine, clock=lambda: now) as uow:
                _record(uow, batch, now)
                uow.commit()
            done += len(batch)
        except Conflict:
            done += _record_one_by_one(engine, batch, now)
    return done


def _record_one_by_one(engine: Engine, breaches: Sequence[Breach], now: datetime) -> int:
    """Record a batch deal by deal, skipping those another writer changed (the next run sees them)."""
    done = 0
    for deal_id in dict.fromkeys(b.deal_id for b in breaches):
        found = [b for b in breaches if b.deal_id == deal_id]
        try:
            with UnitOfWork(engine, clock=lambda: now) as uow:
                _record(uow, found, now)
                uow.commit()
            done += len(found)
        except Conflict:
            continue
    return done
