"""Use cases on leads: capture, disqualify, convert into a deal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dealflow.domain.decisions import Actor, Refusal
from dealflow.domain.leads import Lead, convert_lead, create_lead, disqualify_lead
from dealflow.errors import NotFound
from dealflow.services import cadences, routing
from dealflow.services import deals as sd
from dealflow.services.lookups import load_actor, load_process, refuse
from dealflow.store import queries
from dealflow.store.event_log import record_events
from dealflow.store.unit_of_work import UnitOfWork


def _load(uow: UnitOfWork, lead_id: str) -> Lead:
    row = queries.get_lead(uow.connection, lead_id=lead_id)
    if row is None:
        raise NotFound(f"no lead '{lead_id}'")
    return Lead(id=row.id, name=row.name, company=row.company, owner=row.owner, status=row.status, source=row.source)


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
) -> str:
    """Record a new lead, owned by ``owner`` (the actor by default); return its id.

    Captured under a process (``process_key``) and given no owner, the lead is routed by the
    process's rules (see :mod:`dealflow.services.routing`). ``form``, ``fields`` (what a form or import
    collected besides name, company and email) and ``account_id`` (a matched account) are kept
    with it. ``actor`` stands in for ``actor_id`` when no user acts (a public form); with
    ``commit=False`` the caller commits (an import, all or nothing)."""
    actor = actor or load_actor(uow.connection, user_id=actor_id)
    owner_id = load_actor(uow.connection, user_id=owner).id if owner else actor.id
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
    if process is not None and owner is None:
        routing.route_new_lead(
            uow, lead_id=lead_id, process=process, fields={**found[0].data, **(fields or {})}, actor=actor
        )
    # Cadence: the lead's follow-up touches start at capture (unless its process says on request), with
    # the owner routing gave it.
    cadences.start_lead_cadence(uow=uow, actor=actor, lead_id=lead_id, process_key=process_key)
    if commit:
        uow.commit()
    return lead_id


def disqualify(*, uow: UnitOfWork, actor_id: str, lead_id: str, reason: str | None, process_key: str) -> None:
    """Close a lead as disqualified, with a reason code of the process."""
    actor = load_actor(uow.connection, user_id=actor_id)
    process = load_process(uow.connection, key=process_key)
    decision = disqualify_lead(_load(uow, lead_id), reason, process=process, actor=actor, now=uow.clock())
    if isinstance(decision, Refusal):
        refuse(decision)
    record_events(uow, decision)
    uow.commit()


def convert(*, uow: UnitOfWork, actor_id: str, lead_id: str, process_key: str, title: str | None = None) -> str:
    """Turn a lead into a deal in the process's first stage, in one transaction; return the deal id."""
    lead = _load(uow, lead_id)
    actor = load_actor(uow.connection, user_id=actor_id)
    fields: dict[str, Any] = {}
    process = load_process(uow.connection, key=process_key)
    if lead.source and process.field_type("source") == "text":
        fields["source"] = lead.source
    deal_id = f"D-{queries.next_deal_number(uow.connection)}"
    decision = convert_lead(lead, deal_id, actor=actor, now=uow.clock())
    if isinstance(decision, Refusal):
        refuse(decision)
    record_events(uow, decision)
    deal = sd.create_deal(
        uow=uow,
        actor_id=actor_id,
        process_key=process_key,
        title=title or f"{lead.company or lead.name}",
        owner=lead.owner,
        fields=fields,
    )
    return deal.id
