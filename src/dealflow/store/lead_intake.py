"""The lead and user columns intake and routing keep, written from their events.

A LeadCreated event gives the lead its dedupe keys and the fields its form collected; LeadAssigned
sets the owner and starts the speed-to-lead clock (``sla_due_at``); a touch (an activity, a
cadence touch, a qualification, a status change) or an escalation stops it. A UserChanged event
that carries ``away_from``/``away_until`` sets a user's out-of-office period.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text, update

from dealflow.domain import events as ev
from dealflow.domain.events import Event
from dealflow.domain.intake import company_key, dedupe_keys
from dealflow.store import tables as t

# Events on a lead's stream that count as touching it (some are recorded by cadences and scoring).
TOUCHES = frozenset(
    {
        ev.ACTIVITY_LOGGED,
        ev.LEAD_DISQUALIFIED,
        ev.LEAD_CONVERTED,
        "TouchDone",
        "LeadQualificationScored",
        "LeadRecycled",
    }
)
AWAY = ("away_from", "away_until")


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def lead_columns(data: Mapping[str, Any]) -> dict[str, Any]:
    """The intake columns of a new lead's row, from its LeadCreated payload."""
    return {
        **dedupe_keys(data),
        "process": data.get("process"),
        "form": data.get("form"),
        "fields": data.get("fields") or None,
        "account_id": data.get("account_id"),
    }


def account_columns(data: Mapping[str, Any]) -> dict[str, Any]:
    """The dedupe key of a new account's row."""
    return {"name_key": company_key(data.get("name"))}


def contact_columns(data: Mapping[str, Any]) -> dict[str, Any]:
    """The dedupe key of a new contact's row."""
    email = data.get("email")
    return {"email_key": email.lower() if email else None}


def project_intake(connection: Connection, event: Event) -> None:
    """Write what an intake, routing or touch event changes on the lead's (or user's) row."""
    key = ev.stream_id(event.stream)
    if event.stream.startswith("user:"):
        if event.type == ev.USER_CHANGED and any(name in event.data for name in AWAY):
            values = {name: _at(event.data.get(name)) for name in AWAY}
            connection.execute(update(t.users).where(t.users.c.id == key).values(**values))
        return
    leads = t.leads
    match event.type:
        case ev.LEAD_ASSIGNED:
            values = {
                "owner": event.data["owner"],
                "assigned_at": event.at,
                "sla_due_at": _at(event.data.get("sla_due_at")),
            }
            connection.execute(update(leads).where(leads.c.id == key).values(**values))
        case ev.LEAD_ESCALATED:
            connection.execute(update(leads).where(leads.c.id == key).values(sla_due_at=None))
        case kind if kind in TOUCHES:
            connection.execute(update(leads).where(leads.c.id == key).values(touched_at=event.at, sla_due_at=None))
        case _:
            pass


LEAD_NUMBERS_LOCK = 0x1EAD  # the advisory lock that orders intake's new leads on PostgreSQL


def lock_lead_numbers(connection: Connection) -> None:
    """Hold new leads until this transaction ends, so concurrent intake posts on PostgreSQL queue:
    each finds the leads the ones before it made (no duplicate of a double post) and takes the next
    ``L-n`` instead of colliding (SQLite has one writer at a time anyway)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEAD_NUMBERS_LOCK})
