"""Which events call for a notification, and to whom: what :mod:`dealflow.services.recording`
does after the store has appended events, writing outbox rows in the same transaction.

Emails go to people with an email address in ``users``: LeadAssigned to the new owner,
HandoffCreated to the receiver, SlaBreached and LeadEscalated to the owner and the managers of
the owner's team. Webhooks get the events they subscribed to, among :data:`WEBHOOK_EVENTS`.
Imports do not pass here: a history brought in is not news to anyone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from dealflow.domain import events as ev
from dealflow.domain.events import Event
from dealflow.store import outbox
from dealflow.store import tables as t
from dealflow.store.outbox import Message

LEAD_ASSIGNED, LEAD_ESCALATED = ev.LEAD_ASSIGNED, ev.LEAD_ESCALATED

# The event types a webhook may subscribe to.
WEBHOOK_EVENTS = (
    ev.DEAL_MOVED,
    ev.HANDOFF_CREATED,
    ev.HANDOFF_ACCEPTED,
    ev.SLA_BREACHED,
    LEAD_ASSIGNED,
    LEAD_ESCALATED,
)
EMAIL_EVENTS = frozenset({LEAD_ASSIGNED, ev.HANDOFF_CREATED, ev.SLA_BREACHED, LEAD_ESCALATED})
_WATCHED = EMAIL_EVENTS | frozenset(WEBHOOK_EVENTS)


def enqueue_for_events(connection: Connection, numbered: Sequence[tuple[int, Event]]) -> int:
    """Write the outbox rows that these just-recorded events (numbered by seq) call for."""
    watched = [(seq, e) for seq, e in numbered if e.type in _WATCHED]
    if not watched:
        return 0
    messages: list[Message] = []
    people = _People.of(connection)
    for seq, e in watched:
        if e.type in EMAIL_EVENTS:
            messages += _emails(connection, people, seq, e)
    hooks = people.webhooks({e.type for _, e in watched})
    for seq, e in watched:
        for hook_id in hooks.get(e.type, ()):
            body = webhook_body(seq, e)
            messages.append(Message(f"webhook:{hook_id}:{seq}", outbox.WEBHOOK, body, hook_id, seq))
    return outbox.enqueue(connection, messages, now=watched[-1][1].at)


def webhook_body(seq: int, e: Event) -> dict[str, Any]:
    """What a webhook receives for an event (as JSON)."""
    return {"event": e.type, "seq": seq, "stream": e.stream, "at": e.at.isoformat(), "actor": e.actor, "data": e.data}


_ACTIVE_WEBHOOKS = "SELECT id, events FROM webhooks WHERE active"


class _People:
    """Users (and webhooks) looked up once per transaction: a job that records many events in one
    transaction asks for each person once."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.known: dict[str, Any] = {}
        self.teams: dict[str, list[str]] = {}
        self.hooks: list[tuple[str, list[str]]] | None = None

    @classmethod
    def of(cls, connection: Connection) -> _People:
        """The lookups of the connection's open transaction (new ones for a new transaction)."""
        transaction = connection.get_transaction()
        found = connection.info.get("dealflow_people")
        if found is None or found[0] is not transaction:
            found = (transaction, cls(connection))
            connection.info["dealflow_people"] = found
        people: _People = found[1]
        return people

    def get(self, user_id: str | None) -> Any:
        if user_id is None:
            return None
        if user_id not in self.known:
            u = t.users
            query = select(u.c.id, u.c.name, u.c.email, u.c.team, u.c.roles).where(u.c.id == user_id)
            self.known[user_id] = self.connection.execute(query).first()
        return self.known[user_id]

    def managers_of(self, user_id: str | None) -> list[str]:
        """The managers of ``user_id``'s team (not the user), by id."""
        user = self.get(user_id)
        if user is None or not user.team:
            return []
        if user.team not in self.teams:
            u = t.users
            rows = self.connection.execute(select(u.c.id, u.c.roles).where(u.c.team == user.team)).all()
            self.teams[user.team] = sorted(r.id for r in rows if "manager" in (r.roles or []))
        return [m for m in self.teams[user.team] if m != user_id]

    def webhooks(self, types: set[str]) -> dict[str, list[str]]:
        """The active webhooks subscribed to each of ``types``, by id."""
        wanted = types & set(WEBHOOK_EVENTS)
        if not wanted:
            return {}
        if self.hooks is None:
            # Asked in every transaction that moves a deal: the driver's own query, no statement to build.
            rows = self.connection.exec_driver_sql(_ACTIVE_WEBHOOKS).all()
            self.hooks = [(hook_id, json.loads(kinds) if isinstance(kinds, str) else kinds) for hook_id, kinds in rows]
        found: dict[str, list[str]] = {}
        for hook_id, kinds in self.hooks:
            for kind in set(kinds) & wanted:
                found.setdefault(kind, []).append(hook_id)
        return found


def _subject_line(connection: Connection, stream: str) -> str:
    """``D-3 "Acme renewal"`` or ``L-4 "Jo Smith (Acme)"``: what the event is about, for people."""
    key = ev.stream_id(stream)
    if stream.startswith("deal:"):
        title = connection.execute(select(t.deals.c.title).where(t.deals.c.id == key)).scalar()
        return f'{key} "{title}"' if title else key
    if stream.startswith("lead:"):
        row = connection.execute(select(t.leads.c.name, t.leads.c.company).where(t.leads.c.id == key)).first()
        if row is not None:
            return f'{key} "{row.name}{f" ({row.company})" if row.company else ""}"'
    return key


def _owner(connection: Connection, e: Event) -> str | None:
    """The owner an SLA breach concerns: named in the event, else the deal's or lead's owner."""
    if owner := e.data.get("owner"):
        return str(owner)
    key = ev.stream_id(e.stream)
    table = t.deals if e.stream.startswith("deal:") else t.leads
    found = connection.execute(select(table.c.owner).where(table.c.id == key)).scalar()
    return None if found is None else str(found)


def _when(text: Any) -> str:
    try:
        return datetime.fromisoformat(str(text)).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(text)


def _emails(connection: Connection, people: _People, seq: int, e: Event) -> list[Message]:
    d, about = e.data, _subject_line(connection, e.stream)
    recipients: Iterable[str | None]
    if e.type == LEAD_ASSIGNED:
        recipients = [d.get("owner")]
        subject = f"New lead for you: {about}"
        body = f"{about} is now yours" + (f" ({d['reason']})" if d.get("reason") else "") + "."
    elif e.type == ev.HANDOFF_CREATED:
        recipients = [d.get("to_owner")]
        subject = f"Handoff to accept: {about}"
        missing = ", ".join(d.get("missing") or []) or "nothing"
        body = (
            f"{d.get('from_owner')} handed {about} to you for the {d.get('to_stage')} stage.\n"
            f"Accept it by {_when(d.get('due_at'))}. Context missing: {missing}.\n"
            f"Handoff id: {d.get('id')}"
        )
    elif e.type == ev.SLA_BREACHED:
        owner = _owner(connection, e)
        recipients = [owner, *people.managers_of(owner)]
        what = {"stage": f"stayed past the {d.get('stage')} stage's limit", "handoff": "was not accepted in time"}
        subject = f"Service level missed: {about}"
        body = f"{about} {what.get(str(d.get('kind')), 'missed its service level')} (due {_when(d.get('due_at'))})."
        if d.get("kind") == "handoff":
            body += f"\nHandoff id: {d.get('handoff_id')}"
    else:  # LEAD_ESCALATED
        owner = d.get("owner")
        recipients = [owner, *people.managers_of(owner)]
        subject = f"Lead escalated: {about}"
        body = (
            f"Nobody touched {about} in time ({d.get('overdue_minutes')} minutes late): "
            f"it moved from {d.get('previous_owner')} to {owner}."
        )
    found = []
    for user_id in dict.fromkeys(recipients):
        user = people.get(user_id)
        if user is None or not user.email:
            continue
        payload = {"to": user.email, "user": user.id, "subject": subject, "body": f"Hello {user.name},\n\n{body}\n"}
        found.append(Message(f"email:{seq}:{user.id}", outbox.EMAIL, payload, None, seq))
    return found
