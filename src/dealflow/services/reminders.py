"""The daily digest: one email a day to each user with the next steps they own that are due today
or overdue, on open deals. Queued in the outbox under the key ``reminder:<user>:<day>``, so that a
second run the same day (another worker, a restart) sends nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, select

from dealflow.domain.deals import overdue
from dealflow.store import outbox
from dealflow.store import tables as t
from dealflow.store.outbox import Message


def due_next_steps(engine: Engine, now: datetime) -> dict[str, list[Any]]:
    """The next steps due by the end of ``now``'s day (UTC) on open deals, by owner with an email."""
    end = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(0), tzinfo=UTC)
    n, d, u = t.next_steps, t.deals, t.users
    found: dict[str, list[Any]] = {}
    with engine.connect() as connection:
        # The steps due first, by their index alone: a planner that starts from the open deals
        # would read every one of them on a day with nothing due.
        due = connection.execute(select(n.c.deal_id).where(n.c.due < end)).scalars().all()
        for start in range(0, len(due), 5000):
            query = (
                select(n.c.deal_id, n.c.action, n.c.owner, n.c.due, d.c.title, u.c.email, u.c.name.label("user_name"))
                .join(d, d.c.id == n.c.deal_id)
                .join(u, u.c.id == n.c.owner)
                .where(n.c.deal_id.in_(due[start : start + 5000]), d.c.status == "open", u.c.email.is_not(None))
            )
            for row in connection.execute(query):
                found.setdefault(row.owner, []).append(row)
    for rows in found.values():
        rows.sort(key=lambda r: (r.due, r.deal_id))
    return dict(sorted(found.items()))


def digest(rows: list[Any], now: datetime) -> tuple[str, str]:
    """The subject and body of one user's digest."""
    late = [r for r in rows if overdue(r.due, now)]
    subject = f"Your next steps for {now:%A %d %B}: {len(rows)} due" + (f", {len(late)} overdue" if late else "")
    lines = [f"Hello {rows[0].user_name},", "", "Next steps due today or overdue:", ""]
    for r in rows:
        mark = " (overdue)" if overdue(r.due, now) else ""
        lines.append(f"- {r.due:%Y-%m-%d %H:%M} UTC{mark}  {r.deal_id} {r.title}: {r.action}")
    return subject, "\n".join(lines) + "\n"


def send_daily_reminders(engine: Engine, now: datetime) -> int:
    """Queue today's digest for every user with next steps due; returns the digests queued."""
    day = now.astimezone(UTC).date().isoformat()
    messages = []
    for owner, rows in due_next_steps(engine, now).items():
        subject, body = digest(rows, now)
        payload = {"to": rows[0].email, "user": owner, "subject": subject, "body": body}
        messages.append(Message(f"reminder:{owner}:{day}", outbox.EMAIL, payload))
    if not messages:
        return 0
    with engine.begin() as connection:
        return outbox.enqueue(connection, messages, now=now)
