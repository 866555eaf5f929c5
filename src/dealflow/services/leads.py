"""Use cases on leads: capture, qualify, recycle to nurture, disqualify, convert into a deal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from dealflow.domain import commands as cmds
from dealflow.domain import events as ev
from dealflow.domain.deals import Evidence
from dealflow.domain.decisions import Actor, Refusal, event
from dealflow.domain.fields import parse_field
from dealflow.domain.gates import GateResult
from dealflow.domain.lead_state import LeadState
from dealflow.domain.leads import (
    conversion_gate,
    convert_lead,
    create_lead,
    disqualify_lead,
    qualify_lead,
    recycle_lead,
)
from dealflow.domain.lifecycle import create_deal as decide_create
from dealflow.errors import InvalidInput
from dealflow.process.models import Framework, Process
from dealflow.services import access, cadences, lead_scoring, routing
from dealflow.services.lead_scoring import LeadScore, lead_process, load_lead
from dealflow.services.lookups import load_actor, refuse
from dealflow.services.recording import record_deal_events, record_events
from dealflow.store import lead_states as lead_store
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.processes import load_process
from dealflow.store.unit_of_work import UnitOfWork


def capture_lead(
    *,
    uow: UnitOfWork,
    actor_id: str,
    name: str,
    company: str | None = None,
    email: str | None = None,
    source: str | None = None,
    owner: str | None = None,
    process_key: str | None = None,
    form: str | None = None,
    fields: Mapping[str, str] | None = None,
    account_id: str | None = None,
    actor: Actor | None = None,
    commit: bool = True,
    route: bool = False,
) -> str:
    """Record a new lead, owned by ``owner`` (the actor by default); return its id.

    With ``route`` (forms and imports), a lead captured under a process (``process_key``) and given
    no owner is routed by the process's rules (see :mod:`dealflow.services.routing`). ``form``,
    ``fields`` (what a form or import collected besides name, company and email) and ``account_id``
    (a matched account) are kept with it. ``actor`` stands in for ``actor_id`` when no user acts (a
    public form); with ``commit=False`` the caller commits (an import, all or nothing). The lead is
    scored at once (see :mod:`dealflow.services.lead_scoring`) and its cadence started
    (:mod:`dealflow.services.cadences`)."""
    actor = actor or load_actor(uow.connection, user_id=actor_id)
    owner_id = load_actor(uow.connection, user_id=owner).id if owner else actor.id
    access.assignee(uow.connection, actor=actor, owner=owner_id)
    process = load_process(uow.connection, key=process_key) if process_key else None
    lead_id = f"L-{queries.next_lead_number(uow.connection)}"
    details = {"process": process_key, "form": form, "fields": dict(fields or {}), "account_id": account_id}
    found = create_lead(
        lead_id, name=name, company=company, email=email, source=source, owner=owner_id, actor=actor, now=uow.clock(),
        details={k: v for k, v in details.items() if v},
    )  # fmt: skip
    assert not isinstance(found, Refusal)
    record_events(uow, found)
    # Routing: a lead with no owner given, captured under a process, goes where its rules say.
    if route and process is not None and owner is None:
        routing.route_new_lead(
            uow, lead_id=lead_id, process=process, fields={**found[0].data, **(fields or {})}, actor=actor
        )
    # Scoring: the fit, intent and learned scores as the lead arrives, under its process.
    lead_scoring.score_new_lead(uow, lead_id=lead_id, actor=actor, process=process)
    # Cadence: the lead's follow-up touches start at capture (unless its process says on request), with
    # the owner routing gave it.
    cadences.start_lead_cadence(uow=uow, actor=actor, lead_id=lead_id, process_key=process_key)
    if commit:
        uow.commit()
    return lead_id


def _acting(uow: UnitOfWork, actor_id: str, lead_id: str, process_key: str | None) -> tuple[Actor, LeadState, Process]:
    actor = load_actor(uow.connection, user_id=actor_id)
    lead = load_lead(uow, lead_id=lead_id)
    if lead.owner != actor.id:
        access.lead(uow.connection, actor=actor, lead_id=lead_id, change=True)
    process = lead_process(uow, lead=lead, requested=process_key)
    if process is None:
        raise InvalidInput(f"lead {lead_id} runs under no process: name one", field="process")
    return actor, lead, process


def disqualify(
    *, uow: UnitOfWork, actor_id: str, lead_id: str, reason: str | None, process_key: str | None = None
) -> None:
    """Close a lead as disqualified, with a reason code of the process."""
    actor, lead, process = _acting(uow, actor_id, lead_id, process_key)
    decision = disqualify_lead(lead, reason, process=process, actor=actor, now=uow.clock())
    if isinstance(decision, Refusal):
        refuse(decision)
    record_events(uow, decision)
    uow.commit()


def qualify(*, uow: UnitOfWork, actor_id: str, lead_id: str, answers: dict[str, tuple[bool, str]]) -> LeadScore | None:
    """Confirm or withdraw elements of the lead's scorecard, each with a note; the lead is scored again."""
    actor, lead, process = _acting(uow, actor_id, lead_id, None)
    decision = qualify_lead(lead, answers, process=process, actor=actor, now=uow.clock())
    if isinstance(decision, Refusal):
        refuse(decision)
    record_events(uow, decision)
    score = lead_scoring.rescore(uow, lead_id=lead_id, actor=actor)
    uow.commit()
    return score


def recycle(*, uow: UnitOfWork, actor_id: str, lead_id: str, reason: str, until: date) -> None:
    """Park a lead in nurture until a date, with a reason; the nurture job reopens it then."""
    actor, lead, process = _acting(uow, actor_id, lead_id, None)
    decision = recycle_lead(lead, reason, until, process=process, actor=actor, now=uow.clock())
    if isinstance(decision, Refusal):
        refuse(decision)
    record_events(uow, decision)
    uow.commit()


# The role on the deal of the person who came in as the lead.
LEAD_CONTACT_ROLE = "primary"


def _carried_fields(lead: LeadState, process: Process) -> dict[str, Any]:
    """The lead's answers the deal's process has fields for (an answer its field refuses stays behind)."""
    found: dict[str, Any] = {}
    for name, evidence in lead.fields.items():
        if name == "title" or process.field_type(name) is None:
            continue
        try:
            found[name] = parse_field(process, name, evidence.value)
        except InvalidInput:
            continue
    return found


def _carried_scorecard(lead: LeadState, process: Process, deal_id: str, actor: Actor, now: datetime) -> list[ev.Event]:
    """The lead's confirmed elements as the deal's qualification evidence, saying who confirmed them and when."""
    stream = ev.deal_stream(deal_id)
    return [
        event(ev.QUALIFICATION_SCORED, stream, actor, now, **_carried(lead, framework, element, evidence))
        for framework, card in lead.qualification.items()
        if process.framework(framework) is not None
        for element, evidence in card.items()
    ]


def _carried(lead: LeadState, framework: str, element: str, evidence: Evidence) -> dict[str, Any]:
    return {
        "framework": framework,
        "element": element,
        "confirmed": True,
        "note": str(evidence.value),
        "lead_id": lead.id,
        "confirmed_by": evidence.by,
        "confirmed_at": evidence.at.isoformat(),
    }


def convert(
    *,
    uow: UnitOfWork,
    actor_id: str,
    lead_id: str,
    process_key: str | None = None,
    title: str | None = None,
    override: bool = False,
    reason: str | None = None,
) -> str:
    """Turn a lead into a deal in the process's first stage through the conversion gate, carrying
    its answers and scorecard into the deal, in one transaction; return the deal id."""
    actor, lead, process = _acting(uow, actor_id, lead_id, process_key)
    deal_id = f"D-{queries.next_deal_number(uow.connection)}"
    now = uow.clock()
    decision = convert_lead(lead, deal_id, process=process, actor=actor, now=now, override=override, reason=reason)
    if isinstance(decision, Refusal):
        refuse(decision)
    account = (
        lead.account_id if lead.account_id and queries.exists(uow.connection, t.accounts, lead.account_id) else None
    )
    command = cmds.CreateDeal(
        deal_id=deal_id, title=title or lead.title, owner=lead.owner, account_id=account,
        fields=_carried_fields(lead, process),
    )  # fmt: skip
    created = decide_create(command, process=process, actor=actor, now=now)
    if isinstance(created, Refusal):
        refuse(created)
    record_events(uow, decision)
    contact_id = _lead_contact(uow, lead, account, actor)
    carried = _carried_scorecard(lead, process, deal_id, actor, now)
    if contact_id is not None:
        attached = {"contact_id": contact_id, "role": LEAD_CONTACT_ROLE}
        carried.append(event(ev.CONTACT_ATTACHED, ev.deal_stream(deal_id), actor, now, **attached))
    record_deal_events(uow, deal=None, found=[*created, *carried])
    uow.commit()
    return deal_id


def _lead_contact(uow: UnitOfWork, lead: LeadState, account: str | None, actor: Actor) -> str | None:
    """The lead's person as a contact: the one already known by that email, else a new contact."""
    name, email = lead.value("name"), lead.value("email")
    if not name:
        return None
    if email and (known := lead_store.contact_by_email(uow.connection, email=str(email))):
        return known
    contact_id = lead.id.lower()
    if queries.exists(uow.connection, t.contacts, contact_id):
        return contact_id
    title = lead.value("title")
    data = {
        "name": str(name)[:200],
        "email": email,
        "title": str(title)[:200] if isinstance(title, str) and title.strip() else None,
        "account_id": account,
    }
    record_events(uow, [event(ev.CONTACT_CREATED, f"contact:{contact_id}", actor, uow.clock(), **data)])
    return contact_id


@dataclass(frozen=True)
class LeadView:
    """Everything shown about one lead: its state, process, scorecard framework, live score and gate."""

    lead: LeadState
    process: Process | None
    framework: Framework | None
    score: LeadScore | None
    gate: GateResult | None


def view_lead(*, uow: UnitOfWork, lead_id: str) -> LeadView:
    """A lead with its score computed now (rules and the learned model) and its conversion gate."""
    lead = load_lead(uow, lead_id=lead_id)
    process = lead_process(uow, lead=lead)
    if process is None:
        return LeadView(lead, None, None, None, None)
    framework = process.framework(process.qualification) if process.qualification else None
    score = lead_scoring.compute_score(uow, lead=lead, process=process)
    return LeadView(lead, process, framework, score, conversion_gate(lead, process, uow.clock()))
