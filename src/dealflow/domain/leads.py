"""Leads: people or companies not yet qualified; qualified on a scorecard, parked in nurture,
disqualified with a reason, or converted to a deal through the conversion gate."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from dealflow.domain import events as ev
from dealflow.domain.access import may_override
from dealflow.domain.decisions import Actor, Decision, Refusal, event
from dealflow.domain.gates import GateResult, evaluate_criteria
from dealflow.domain.lead_state import LeadState
from dealflow.errors import InvalidInput
from dealflow.process.models import Process

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


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
    data: dict[str, Any] = {
        "name": _clean(name, "name", required=True),
        "company": _clean(company, "company"),
        "email": address.lower() if address else None,
        "source": _clean(source, "source", limit=64),
        "owner": owner,
        **(details or {}),
    }
    return [event(ev.LEAD_CREATED, f"lead:{lead_id}", actor, now, **data)]


def _closed(lead: LeadState) -> Refusal | None:
    if lead.status == "nurture":
        return Refusal(f"lead {lead.id} is in nurture until {lead.reengage_on}; it reopens then")
    if lead.status != "open":
        return Refusal(f"lead {lead.id} is already {lead.status}")
    return None


def disqualify_lead(lead: LeadState, reason: str | None, *, process: Process, actor: Actor, now: datetime) -> Decision:
    """Close a lead as disqualified with one of the process's reason codes."""
    if refusal := _closed(lead):
        return refusal
    codes = process.outcomes.disqualified.reasons
    if codes and reason not in codes:
        given = f"'{reason}' is not a reason code" if reason else "No reason code given"
        return Refusal("a disqualified lead needs a reason code", (f"{given} (codes: {', '.join(codes)})",))
    return [event(ev.LEAD_DISQUALIFIED, f"lead:{lead.id}", actor, now, reason=reason)]


def qualify_lead(
    lead: LeadState, answers: dict[str, tuple[bool, str]], *, process: Process, actor: Actor, now: datetime
) -> Decision:
    """Confirm or withdraw elements of the process's framework on the lead's scorecard, each with a note."""
    if lead.status not in ("open", "nurture"):
        return Refusal(f"lead {lead.id} is already {lead.status}")
    framework = process.framework(process.qualification) if process.qualification else None
    if framework is None:
        return Refusal(f"process {process.key} names no qualification framework (set 'qualification:')")
    if not answers:
        raise InvalidInput("name at least one element to confirm or withdraw", field="element")
    elements = [e.key for e in framework.elements]
    confirmed: dict[str, bool] = {}
    notes: dict[str, str] = {}
    for element, (yes, note) in answers.items():
        if element not in elements:
            raise InvalidInput(f"'{element}' is not one of: {', '.join(elements)}", field="element")
        confirmed[element] = yes
        notes[element] = _clean(note, "note", limit=2000) or ""
    data = {"framework": framework.key, "confirmed": confirmed, "notes": notes}
    return [event(ev.LEAD_QUALIFIED, f"lead:{lead.id}", actor, now, **data)]


def recycle_lead(
    lead: LeadState, reason: str, until: date, *, process: Process, actor: Actor, now: datetime
) -> Decision:
    """Park an open lead in nurture until ``until``, with a reason (a code when the process lists them)."""
    if refusal := _closed(lead):
        return refusal
    rules = process.leads.nurture
    reason = _clean(reason, "reason", required=True, limit=200) or ""
    if rules.reasons and reason not in rules.reasons:
        raise InvalidInput(f"'{reason}' is not a nurture reason (reasons: {', '.join(rules.reasons)})", field="reason")
    if until <= now.date():
        raise InvalidInput(f"must be after today ({now.date()}), got {until}", field="until")
    if until > now.date() + timedelta(days=rules.max_days):
        raise InvalidInput(f"at most {rules.max_days} days ahead, got {until}", field="until")
    return [event(ev.LEAD_RECYCLED, f"lead:{lead.id}", actor, now, reason=reason, reengage_on=until.isoformat())]


def conversion_gate(lead: LeadState, process: Process, now: datetime) -> GateResult:
    """The gate a lead passes to become a deal: the process's ``leads.conversion`` criteria."""
    first = process.stages[0]
    as_deal = lead.as_deal(process=process.key, version=process.version, stage=first.key)
    return evaluate_criteria(process.leads.conversion.criteria, as_deal, process, now)


def convert_lead(
    lead: LeadState,
    deal_id: str,
    *,
    process: Process,
    actor: Actor,
    now: datetime,
    override: bool = False,
    reason: str | None = None,
) -> Decision:
    """Mark a lead as converted into ``deal_id`` through the conversion gate (or past it, with an
    override by an allowed role and a written reason); the deal is created by its own rule."""
    if refusal := _closed(lead):
        return refusal
    gate = conversion_gate(lead, process, now)
    unmet = [str(u) for u in gate.unmet]
    data: dict[str, object] = {"deal_id": deal_id, "process": process.key}
    if unmet:
        if not override:
            count = f"{len(unmet)} criteria unmet" if len(unmet) > 1 else "1 criterion unmet"
            return Refusal(f"lead {lead.id} cannot become a deal yet: {count}", tuple(unmet), kind="gate")
        roles = process.leads.conversion.override_roles or process.overrides.roles
        if refused := may_override(actor, roles, "override the conversion gate"):
            return Refusal(refused, kind="forbidden")
        written = (reason or "").strip()
        if not written:
            return Refusal("an override needs a written reason", ("Give the reason for the override",))
        data |= {"override": True, "unmet": unmet, "reason": written[:2000]}
    return [event(ev.LEAD_CONVERTED, f"lead:{lead.id}", actor, now, **data)]
