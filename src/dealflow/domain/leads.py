"""Leads: people or companies not yet qualified; disqualified with a reason or converted to a deal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dealflow.domain import events as ev
from dealflow.domain.decisions import Actor, Decision, Refusal, event
from dealflow.errors import InvalidInput
from dealflow.process.models import Process

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Lead:
    """What the rules need to know of a lead."""

    id: str
    name: str
    company: str | None
    owner: str
    status: str
    source: str | None = None


def _clean(value: str | None, field: str, *, required: bool = False, limit: int = 200) -> str | None:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput("must not be empty", field=field)
    if len(value) > limit:
        raise InvalidInput(f"too long ({len(value):,} characters; at most {limit})", field=field)
    return value or None


def create_lead(
    lead_id: str,
    *,
    name: str,
    company: str | None,
    email: str | None,
    source: str | None,
    owner: str,
    actor: Actor,
    now: datetime,
    details: Mapping[str, Any] | None = None,
) -> Decision:
    """The LeadCreated event of a new lead; bad input raises InvalidInput. ``details`` (the
    process, form, collected fields, matched account of an intake) go into its payload as given."""
    address = _clean(email, "email", limit=254)
    if address and not _EMAIL.match(address):
        raise InvalidInput(f"not an email address: {address[:60]!r}", field="email")
    data = {
        "name": _clean(name, "name", required=True),
        "company": _clean(company, "company"),
        "email": address.lower() if address else None,
        "source": _clean(source, "source", limit=64),
        "owner": owner,
        **(details or {}),
    }
    return [event(ev.LEAD_CREATED, f"lead:{lead_id}", actor, now, **data)]


def disqualify_lead(lead: Lead, reason: str | None, *, process: Process, actor: Actor, now: datetime) -> Decision:
    """Close a lead as disqualified with one of the process's reason codes."""
    if lead.status != "open":
        return Refusal(f"lead {lead.id} is already {lead.status}")
    codes = process.outcomes.disqualified.reasons
    if codes and reason not in codes:
        given = f"'{reason}' is not a reason code" if reason else "No reason code given"
        return Refusal("a disqualified lead needs a reason code", (f"{given} (codes: {', '.join(codes)})",))
    return [event(ev.LEAD_DISQUALIFIED, f"lead:{lead.id}", actor, now, reason=reason)]


def convert_lead(lead: Lead, deal_id: str, *, actor: Actor, now: datetime) -> Decision:
    """Mark a lead as converted into ``deal_id`` (the deal is created by its own rule)."""
    if lead.status != "open":
        return Refusal(f"lead {lead.id} is already {lead.status}")
    return [event(ev.LEAD_CONVERTED, f"lead:{lead.id}", actor, now, deal_id=deal_id)]
