"""Capturing evidence on a deal: fields, activities, the next step, contacts, scores, approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dealflow.domain import access
from dealflow.domain import events as ev
from dealflow.domain.commands import (
    AttachContact,
    AttachDocument,
    LogActivity,
    RecordApproval,
    ScoreQualification,
    SetNextStep,
    UpdateFields,
)
from dealflow.domain.deals import Deal, overdue
from dealflow.domain.decisions import Actor, Decision, Refusal, event
from dealflow.domain.fields import MAX_TEXT, parse_fields
from dealflow.errors import InvalidInput
from dealflow.process.criteria import ACTIVITY_KINDS
from dealflow.process.models import Process

EvidenceCommand = (
    UpdateFields | LogActivity | SetNextStep | AttachContact | ScoreQualification | RecordApproval | AttachDocument
)


def _text(value: str, name: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput("must not be empty", field=name)
    if len(value) > limit:
        raise InvalidInput(f"too long ({len(value):,} characters; at most {limit:,})", field=name)
    return value


def _key(value: str, name: str) -> str:
    value = _text(value, name, limit=64)
    if not value.replace("_", "").isalnum() or not value[0].isalpha():
        raise InvalidInput(f"'{value}' must be lowercase letters, digits and _", field=name)
    return value.lower()


def _data(deal: Deal, cmd: EvidenceCommand, process: Process, now: datetime) -> tuple[str, dict[str, Any]]:
    data: dict[str, Any]
    match cmd:
        case UpdateFields(fields=raw):
            if not raw:
                raise InvalidInput("give at least one field to update", field="fields")
            return ev.FIELDS_UPDATED, {"fields": parse_fields(process, raw)}
        case LogActivity(kind=kind, summary=summary, at=at, contact_id=contact):
            if kind not in ACTIVITY_KINDS:
                raise InvalidInput(f"'{kind}' is not one of: {', '.join(ACTIVITY_KINDS)}", field="kind")
            when = at or now
            if when > now:
                raise InvalidInput("an activity cannot be logged in the future", field="at")
            data = {"kind": kind, "summary": _text(summary, "summary"), "at": when.isoformat()}
            return ev.ACTIVITY_LOGGED, {**data, "contact_id": contact}
        case SetNextStep(action=action, owner=owner, due=due, buyer_confirmed=confirmed):
            if overdue(due, now):
                raise InvalidInput(f"must be in the future (got {due:%Y-%m-%d %H:%M})", field="due")
            data = {"action": _text(action, "action", limit=500), "owner": owner}
            return ev.NEXT_STEP_SET, {**data, "due": due.isoformat(), "buyer_confirmed": confirmed}
        case AttachContact(contact_id=contact, role=role):
            if any(c.contact_id == contact and c.role == role for c in deal.contacts):
                raise InvalidInput(f"{contact} is already attached as {role}", field="role")
            return ev.CONTACT_ATTACHED, {"contact_id": contact, "role": _key(role, "role")}
        case ScoreQualification(framework=key, element=element, confirmed=confirmed, note=note):
            framework = process.framework(key)
            if framework is None:
                known = ", ".join(f.key for f in process.frameworks) or "none"
                raise InvalidInput(f"unknown framework '{key}' (frameworks: {known})", field="framework")
            elements = [e.key for e in framework.elements]
            if element not in elements:
                raise InvalidInput(f"'{element}' is not one of: {', '.join(elements)}", field="element")
            data = {"framework": key, "element": element, "confirmed": confirmed}
            return ev.QUALIFICATION_SCORED, {**data, "note": _text(note, "note", required=False)}
        case RecordApproval(approval=approval, note=note):
            data = {
                "approval": _key(approval, "approval"),
                "note": _text(note, "note", required=False),
            }
            return ev.APPROVAL_RECORDED, data
        case AttachDocument(document=document, name=name, url=url):
            data = {"document": _key(document, "document"), "name": _text(name, "name", limit=500)}
            return ev.DOCUMENT_ATTACHED, {
                **data,
                "url": _text(url, "url", limit=2000) if url else None,
            }


def capture(deal: Deal, cmd: EvidenceCommand, *, process: Process, actor: Actor, now: datetime) -> Decision:
    """The event recording a piece of evidence on an open deal; bad input raises InvalidInput."""
    if deal.status in ("lost", "disqualified"):
        return Refusal(f"the deal is {deal.status}; reopen is not supported")
    if isinstance(cmd, RecordApproval):
        kind = _key(cmd.approval, "approval")
        if refusal := access.may_approve(actor, kind, process.approval(kind), owner=deal.owner):
            return Refusal(refusal, kind="forbidden")
    type_, data = _data(deal, cmd, process, now)
    return [event(type_, ev.deal_stream(deal.id), actor, now, **data)]
