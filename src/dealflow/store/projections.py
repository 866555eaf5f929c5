"""Projections: the state tables written from events, the same way live and on replay."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Connection, bindparam, delete, insert, update

from dealflow.domain import events as ev
from dealflow.domain.deals import Deal
from dealflow.domain.events import Event
from dealflow.errors import Conflict
from dealflow.store import tables as t
from dealflow.store.cadence_tasks import project_cadence
from dealflow.store.lead_intake import account_columns, contact_columns, lead_columns, project_intake
from dealflow.store.user_changes import project_user_change

_NUMBERED = re.compile(r"^D-(\d{1,9})$")


def deal_row(deal: Deal) -> dict[str, object]:
    """The columns of a deal's row in the ``deals`` table."""
    return {**_columns(deal), "state": deal.model_dump(mode="json")}


def deal_number(deal_id: str) -> int | None:
    """The ``n`` of a deal id shaped ``D-n`` (the ``number`` column), or None."""
    match = _NUMBERED.match(deal_id)
    return int(match.group(1)) if match else None


def _columns(deal: Deal) -> dict[str, object]:
    """Every column of a deal's row but the state."""
    return {
        "id": deal.id,
        "number": deal_number(deal.id),
        "title": deal.title,
        "process": deal.process,
        "process_version": deal.process_version,
        "account_id": deal.account_id,
        "owner": deal.owner,
        "stage": deal.stage,
        "status": deal.status,
        "amount": deal.amount,
        "close_date": deal.close_date,
        "created_at": deal.created_at,
        "stage_entered_at": deal.stage_entered_at,
        "closed_at": deal.closed_at,
        "version": deal.version,
        "source": _dimension(deal, "source"),
        "segment": _dimension(deal, "segment"),
        "product": _dimension(deal, "product"),
        "outcome_reason": deal.outcome_reason,
        "close_date_pushes": deal.close_date_pushes,
    }


def _dimension(deal: Deal, name: str) -> str | None:
    value = deal.value(name)
    return None if value is None else str(value)[:200]


_EXITS = {
    ev.DEAL_WON: "won",
    ev.DEAL_LOST: "lost",
    ev.DEAL_DISQUALIFIED: "disqualified",
    ev.HANDOFF_RETURNED: "returned",
    ev.DEAL_REOPENED: "reopened",
    ev.DEAL_MIGRATED: "migrated",
}


def visit_row(seq: int, before: Deal | None, after: Deal, event: Event) -> dict[str, object] | None:
    """The finished stay in a stage that ``event`` ends, as a ``stage_visits`` row, or None.

    A stay ends when the deal changes stage (forward, skip, backward, sent back) or closes. The
    move into a post-sale stage that follows a win does not end the stay again: the win did."""
    if before is None:
        return None
    closes = before.status == "open" and after.status != "open"
    leaves = after.stage != before.stage or after.stage_entered_at != before.stage_entered_at
    if not (closes or leaves):
        return None
    if before.status != "open" and before.closed_at is not None and before.stage_entered_at < before.closed_at:
        return None
    exit_kind = _EXITS.get(event.type) or str(event.data.get("kind") or "forward")
    return {
        "seq": seq,
        "deal_id": before.id,
        "process": before.process,
        "stage": before.stage,
        "owner": before.owner,
        "entered_at": before.stage_entered_at,
        "left_at": event.at,
        "seconds": (event.at - before.stage_entered_at).total_seconds(),
        "exit": exit_kind,
        "to_stage": after.stage if after.stage != before.stage else None,
        "overridden": bool(event.data.get("override")),
        "imported": bool(event.data.get("imported")),
    }


_INSERT_DEAL = insert(t.deals)
_INSERT_VISIT = insert(t.stage_visits)
# Built once; the SET clause comes from the keys of the parameters. The WHERE parameters carry a
# prefix so that they cannot clash with the column names being set.
_UPDATE_DEAL = update(t.deals).where(t.deals.c.id == bindparam("w_id"), t.deals.c.version == bindparam("w_version"))


def write_deal(connection: Connection, deal: Deal, *, before: Deal | None) -> None:
    """Insert a new deal's row, or update the columns that changed since ``before`` only if the
    row is still at ``before``'s version (someone else's change in between is a Conflict)."""
    row = deal_row(deal)
    if before is None:
        connection.execute(_INSERT_DEAL, row)
        return
    old = _columns(before)
    # Only the changed columns: the database then leaves the indexes of the others alone.
    changes = {key: value for key, value in row.items() if key == "state" or value != old[key]}
    result = connection.execute(_UPDATE_DEAL, {**changes, "w_id": deal.id, "w_version": before.version})
    if result.rowcount != 1:
        raise Conflict(f"deal {deal.id} was changed by someone else meanwhile; reload and try again")


def insert_deals(connection: Connection, deals: list[Deal]) -> None:
    """Insert many new deals' rows at once (replay and import)."""
    if deals:
        connection.execute(_INSERT_DEAL, [deal_row(d) for d in deals])


def write_visits(connection: Connection, rows: list[dict[str, object]]) -> None:
    """Insert finished stage stays (see :func:`visit_row`)."""
    if rows:
        connection.execute(_INSERT_VISIT, rows)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _user_row(event: Event) -> dict[str, object]:
    row = {k: event.data.get(k) for k in ("name", "roles", "team", "email")}
    return {"id": ev.stream_id(event.stream), **row, "created_at": event.at}


def _account_row(event: Event) -> dict[str, object]:
    data = event.data
    return {
        "id": ev.stream_id(event.stream),
        "name": data["name"],
        "domain": data.get("domain"),
        "created_at": event.at,
        **account_columns(data),
    }


def project_side_tables_in_bulk(connection: Connection, numbered: Sequence[tuple[int, Event]]) -> None:
    """What :func:`project_side_tables` writes for many events (numbered by seq), the users and
    accounts added among them with one statement per table (an import may add thousands)."""
    users = [_user_row(e) for _, e in numbered if e.type == ev.USER_ADDED]
    accounts = [_account_row(e) for _, e in numbered if e.type == ev.ACCOUNT_CREATED]
    if users:
        connection.execute(insert(t.users), users)
    if accounts:
        connection.execute(insert(t.accounts), accounts)
    for seq, e in numbered:
        if e.type not in (ev.USER_ADDED, ev.ACCOUNT_CREATED):
            project_side_tables(connection, seq, e)


def _next_step_at_handoff(connection: Connection, deal_id: str, data: dict[str, object]) -> None:
    """The ``next_steps`` row after an accepted handoff (see :func:`dealflow.domain.deals.evolve`)."""
    n = t.next_steps
    if data.get("next_step") == "reset":
        connection.execute(delete(n).where(n.c.deal_id == deal_id))
    elif data.get("next_step") == "pass":
        passed = update(n).where(n.c.deal_id == deal_id, n.c.owner == data["from_owner"])
        connection.execute(passed.values(owner=data["to_owner"]))


def project_side_tables(connection: Connection, seq: int, event: Event) -> None:
    """Write what ``event`` changes outside the deals table (the event's ``seq`` keys activities)."""
    data, key = event.data, ev.stream_id(event.stream)
    project_cadence(connection, seq, event)
    match event.type:
        case ev.PROCESS_INSTALLED:
            row = {k: data[k] for k in ("key", "version", "name", "source")}
            connection.execute(insert(t.processes), {**row, "installed_at": event.at, "installed_by": event.actor})
        case ev.WORKSPACE_SETTING_CHANGED:
            settings = t.workspace_settings
            connection.execute(delete(settings).where(settings.c.name == data["name"]))
            row = {"name": data["name"], "value": data["value"], "changed_at": event.at, "changed_by": event.actor}
            connection.execute(insert(settings), row)
        case ev.USER_ADDED:
            connection.execute(insert(t.users), _user_row(event))
        case ev.USER_CHANGED:
            project_user_change(connection, user_id=key, data=data)
        case ev.ACCOUNT_CREATED:
            connection.execute(insert(t.accounts), _account_row(event))
        case ev.CONTACT_CREATED:
            row = {k: data.get(k) for k in ("name", "email", "title", "account_id")}
            connection.execute(insert(t.contacts), {"id": key, **row, **contact_columns(data), "created_at": event.at})
        case ev.ACTIVITY_LOGGED:
            row = {k: data.get(k) for k in ("kind", "summary", "contact_id")}
            values = {"seq": seq, "deal_id": key, **row, "at": _at(data["at"]), "actor": event.actor}
            connection.execute(insert(t.activities), values)
        case ev.DEAL_REOPENED:
            row = {k: data[k] for k in ("from_status", "stage", "reason")}
            connection.execute(
                insert(t.reopenings), {"seq": seq, "deal_id": key, **row, "at": event.at, "actor": event.actor}
            )
        case ev.NEXT_STEP_SET:
            connection.execute(delete(t.next_steps).where(t.next_steps.c.deal_id == key))
            row = {k: data[k] for k in ("action", "owner", "buyer_confirmed")}
            values = {"deal_id": key, **row, "due": _at(data["due"]), "set_at": event.at, "set_by": event.actor}
            connection.execute(insert(t.next_steps), values)
        case ev.CONTACT_ATTACHED:
            row = {"deal_id": key, "contact_id": data["contact_id"], "role": data["role"], "attached_at": event.at}
            connection.execute(insert(t.deal_contacts), row)
        case ev.HANDOFF_CREATED:
            fields = ("id", "from_owner", "to_owner", "from_stage", "to_stage", "context", "completeness")
            row = {k: data[k] for k in fields}
            values = {**row, "deal_id": key, "created_at": event.at, "due_at": _at(data["due_at"]), "status": "pending"}
            connection.execute(insert(t.handoffs), values)
        case ev.LEAD_CREATED:
            number = re.match(r"^L-(\d{1,9})$", key)
            row = {k: data.get(k) for k in ("name", "company", "email", "source", "owner")}
            values = {"id": key, "number": int(number.group(1)) if number else None, **row, **lead_columns(data)}
            connection.execute(insert(t.leads), {**values, "status": "open", "created_at": event.at})
        case ev.LEAD_DISQUALIFIED | ev.LEAD_CONVERTED:
            status = "disqualified" if event.type == ev.LEAD_DISQUALIFIED else "converted"
            connection.execute(
                update(t.leads)
                .where(t.leads.c.id == key)
                .values(
                    status=status,
                    closed_at=event.at,
                    reason=data.get("reason") if event.type == ev.LEAD_DISQUALIFIED else None,
                    deal_id=data.get("deal_id"),
                    reengage_on=None,
                )
            )
        case ev.LEAD_SCORED | ev.LEAD_RECYCLED | ev.LEAD_REOPENED:
            connection.execute(update(t.leads).where(t.leads.c.id == key).values(**lead_changes(event)))
        case ev.HANDOFF_ACCEPTED | ev.HANDOFF_RETURNED:
            if event.type == ev.HANDOFF_ACCEPTED:
                _next_step_at_handoff(connection, key, data)
            status = "accepted" if event.type == ev.HANDOFF_ACCEPTED else "returned"
            connection.execute(
                update(t.handoffs)
                .where(t.handoffs.c.id == data["id"])
                .values(status=status, resolved_at=event.at, resolved_by=event.actor, reason=data.get("reason"))
            )
        case ev.SLA_BREACHED:
            connection.execute(insert(t.sla_breaches), sla_breach_row(seq, event))
        case _:
            pass
    if event.stream.startswith(("lead:", "user:")):
        project_intake(connection, event)


def lead_changes(event: Event) -> dict[str, object]:
    """The columns of a lead's row that a scoring or nurture event sets."""
    data = event.data
    match event.type:
        case ev.LEAD_SCORED:
            fit, intent = int(data["fit"]), int(data["intent"])
            learned = data.get("learned")
            return {
                "fit_score": fit,
                "intent_score": intent,
                "score": fit + intent,
                "learned_score": None if learned is None else float(learned),
                "scored_at": event.at,
            }
        case ev.LEAD_RECYCLED:
            return {"status": "nurture", "reengage_on": date.fromisoformat(data["reengage_on"])}
        case _:
            return {"status": "open", "reengage_on": None}


def sla_breach_row(seq: int, event: Event) -> dict[str, object]:
    """The ``sla_breaches`` row of a SlaBreached event: what was late (the handoff, deal or lead),
    since when (the stay or handoff began; the deadline when the event does not say)."""
    data = event.data
    subject = data.get("handoff_id") or data.get("deal_id") or data.get("lead_id") or ev.stream_id(event.stream)
    return {
        "kind": data["kind"],
        "subject": subject,
        "since": _at(data.get("since") or data["due_at"]),
        "deal_id": data.get("deal_id"),
        "lead_id": data.get("lead_id"),
        "stage": data.get("stage"),
        "owner": data.get("owner"),
        "due_at": _at(data["due_at"]),
        "seq": seq,
        "at": event.at,
    }
