"""Reading leads back: a lead's state from its own events, and the nurtured leads that are due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Text, cast, func, insert, literal, select

from dealflow.domain.lead_state import LeadState, evolve
from dealflow.store import tables as t
from dealflow.store.event_log import read_events


def lead_state(connection: Connection, *, lead_id: str) -> LeadState | None:
    """A lead rebuilt from its events (a lead's stream is a handful of events), or None."""
    lead: LeadState | None = None
    for _seq, _version, e in read_events(connection, stream=f"lead:{lead_id}"):
        lead = evolve(lead, e)
    return lead


def due_nurtured(connection: Connection, *, today: date, limit: int) -> Sequence[Any]:
    """Nurtured leads whose date has come, with their stream's last version, oldest date first.

    On PostgreSQL the rows are locked and rows another worker holds are skipped, so two workers
    never reopen the same lead twice."""
    lead, e = t.leads, t.events
    version = (
        select(func.max(e.c.version))
        .where(e.c.stream == literal("lead:").concat(lead.c.id))
        .correlate(lead)
        .scalar_subquery()
    )
    query = (
        select(lead.c.id, version.label("version"))
        .where(lead.c.status == "nurture", lead.c.reengage_on <= today)
        .order_by(lead.c.reengage_on, lead.c.id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(of=lead, skip_locked=True)
    return connection.execute(query).all()


def latest_model(connection: Connection, *, process: str) -> Any | None:
    """The newest learned model of a process (its row), or None."""
    m = t.score_models
    query = select(m).where(m.c.process == process).order_by(m.c.trained_at.desc(), m.c.id.desc()).limit(1)
    return connection.execute(query).first()


def save_model(
    connection: Connection, *, process: str, by: str, at: datetime, n: int, auc: float, model: dict[str, Any]
) -> int:
    """Store a trained model; return its id."""
    row = {"process": process, "trained_at": at, "trained_by": by, "n": n, "auc": auc, "model": model}
    return int(connection.execute(insert(t.score_models).returning(t.score_models.c.id), row).scalar_one())


def closed_deals(connection: Connection, *, process: str) -> Sequence[Any]:
    """The won and lost deals of a process, with their state and the moment of their first activity."""
    d, a = t.deals, t.activities
    first = select(a.c.deal_id, func.min(a.c.at).label("first_touch_at")).group_by(a.c.deal_id).subquery()
    query = (
        select(d.c.status, cast(d.c.state, Text).label("state"), first.c.first_touch_at)
        .outerjoin(first, first.c.deal_id == d.c.id)
        .where(d.c.process == process, d.c.status.in_(("won", "lost")))
        .order_by(d.c.id)
    )
    return connection.execute(query).all()


def contact_by_email(connection: Connection, *, email: str) -> str | None:
    """The id of a contact known by this email (whatever its case), or None."""
    c = t.contacts
    query = select(c.c.id).where(func.lower(c.c.email) == email.lower()).order_by(c.c.created_at, c.c.id).limit(1)
    found = connection.execute(query).scalar()
    return None if found is None else str(found)
