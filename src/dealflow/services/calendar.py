"""A user's calendar feed: their next steps and the next touch of each of their cadences as an
iCalendar file that calendar apps subscribe to by a private URL.

The URL holds a feed token made for one user (``cal_...``), stored as a SHA-256 digest; making a
new one revokes the old, and it can be revoked outright.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta

from icalendar import Calendar, Event, Todo
from sqlalchemy import Connection, insert, select, update

from dealflow.services.auth import digest
from dealflow.services.lookups import load_actor
from dealflow.store import cadence_tasks, server_addresses
from dealflow.store import tables as t
from dealflow.store.unit_of_work import UnitOfWork

PREFIX = "cal_"
STEP_LENGTH = timedelta(minutes=30)  # how long a next step shows in a calendar
PRODUCT = "-//dealflow//calendar feed//EN"


DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def feed_url(base_url: str, token: str) -> str:
    """The URL a calendar app subscribes to."""
    return f"{base_url.rstrip('/')}/calendar/{token}.ics"


def base_address(connection: Connection, configured: str | None) -> tuple[str, str]:
    """The start of the links given out, and where it comes from: the configured base URL, else the
    address the web server last announced, else the default one."""
    if configured:
        return configured, "from DEALFLOW_BASE_URL"
    row = server_addresses.announced(connection)
    if row is not None:
        return row.url, f"the address `dealflow serve` announced at {row.started_at:%Y-%m-%d %H:%M} UTC"
    return DEFAULT_BASE_URL, "the default: no server has run on this workspace and DEALFLOW_BASE_URL is not set"


def create_feed(*, uow: UnitOfWork, user_id: str) -> str:
    """A new feed token for the user (the old one stops working); shown once, kept as a digest."""
    user = load_actor(uow.connection, user_id=user_id)
    now = uow.clock()
    _revoke(uow.connection, user.id, now)
    token = PREFIX + secrets.token_urlsafe(32)
    row = {"token_hash": digest(token), "user_id": user.id, "created_at": now}
    uow.connection.execute(insert(t.calendar_feeds), row)
    uow.commit()
    return token


def revoke_feeds(*, uow: UnitOfWork, user_id: str) -> int:
    """Stop the user's feed URL from working; returns the number of feeds revoked."""
    user = load_actor(uow.connection, user_id=user_id)
    revoked = _revoke(uow.connection, user.id, uow.clock())
    uow.commit()
    return revoked


def _revoke(connection: Connection, user_id: str, now: datetime) -> int:
    c = t.calendar_feeds
    query = update(c).where(c.c.user_id == user_id, c.c.revoked_at.is_(None)).values(revoked_at=now)
    return int(connection.execute(query).rowcount or 0)


def feed_owner(connection: Connection, token: str) -> str | None:
    """The user whose live feed ``token`` opens, or None."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    c = t.calendar_feeds
    query = select(c.c.user_id).where(c.c.token_hash == digest(token), c.c.revoked_at.is_(None))
    found = connection.execute(query).scalar()
    return None if found is None else str(found)


def _next_steps(connection: Connection, user_id: str, stamp: datetime) -> Iterator[Event]:
    n, d = t.next_steps, t.deals
    query = (
        select(n.c.deal_id, n.c.action, n.c.due, n.c.buyer_confirmed, n.c.set_at, d.c.title, d.c.stage)
        .join(d, d.c.id == n.c.deal_id)
        .where(n.c.owner == user_id, d.c.status == "open")
        .order_by(n.c.due, n.c.deal_id)
    )
    for row in connection.execute(query):
        item = Event()
        # One next step per deal: a new one replaces the old in the calendar under the same UID.
        item.add("uid", f"next-step-{row.deal_id}@dealflow")
        item.add("dtstamp", stamp)
        item.add("last-modified", row.set_at)
        item.add("summary", f"{row.action} ({row.deal_id} {row.title})")
        item.add("dtstart", row.due)
        item.add("dtend", row.due + STEP_LENGTH)
        confirmed = "confirmed by the buyer" if row.buyer_confirmed else "not confirmed by the buyer"
        item.add("description", f"Next step on {row.deal_id} {row.title}, stage {row.stage}; {confirmed}.")
        item.add("categories", ["next step"])
        yield item


def _due_tasks(connection: Connection, user_id: str, stamp: datetime) -> Iterator[Todo]:
    """The next touch of each of the user's running cadences, as a to-do due on its day."""
    c = t.cadence_tasks
    query = (
        select(c.c.run, c.c.step, c.c.subject, c.c.channel, c.c.template, c.c.due_on, c.c.cadence)
        .where(c.c.owner == user_id, c.c.status == "open")
        .order_by(c.c.due_on, c.c.run, c.c.step)
    )
    rows = connection.execute(query).all()
    names = cadence_tasks.titles(connection, [row.subject for row in rows])
    for row in rows:
        ref = row.subject.split(":", 1)[1]
        what = names.get(row.subject, ref)
        item = Todo()
        item.add("uid", f"cadence-{row.run}-{row.step}@dealflow")
        item.add("dtstamp", stamp)
        item.add("summary", f"{row.channel.title()} {ref} {what}" + (f": {row.template}" if row.template else ""))
        item.add("due", row.due_on)
        item.add("description", f"Touch {row.step} of the cadence {row.cadence!r} on {ref} {what}.")
        item.add("categories", ["cadence touch"])
        yield item


def build_calendar(connection: Connection, user_id: str, now: datetime) -> bytes:
    """The user's feed as iCalendar bytes."""
    cal = Calendar()
    cal.add("prodid", PRODUCT)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"dealflow: {user_id}")
    for item in _next_steps(connection, user_id, now):
        cal.add_component(item)
    for todo in _due_tasks(connection, user_id, now):
        cal.add_component(todo)
    return bytes(cal.to_ical())
