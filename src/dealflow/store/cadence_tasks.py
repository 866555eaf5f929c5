"""The ``cadence_tasks`` table: written from cadence, owner and closing events, read for what is due.

Each touch of a started cadence is a row keyed by (run, step), ``run`` being the seq of the
CadenceStarted event. The next step of a running cadence is ``open``, later steps are ``planned``;
an open touch is overdue once its day has gone by (:func:`overdue`, worked out, never stored, so
that replaying the log gives the same rows whenever it runs). A cadence ends when it is stopped (a reply,
a meeting, its last touch, by hand) or when its lead or deal closes: its remaining rows become
``stopped`` with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, select, update

from dealflow.domain import events as ev
from dealflow.domain.cadences import CadenceRun, RunTouch
from dealflow.domain.events import Event
from dealflow.store import tables as t

ACTIVE = ("planned", "open")
_CLOSING = {
    ev.LEAD_CONVERTED: "converted",
    ev.LEAD_DISQUALIFIED: "disqualified",
    ev.DEAL_WON: "won",
    ev.DEAL_LOST: "lost",
    ev.DEAL_DISQUALIFIED: "disqualified",
}
_OWNER_KEY = {ev.LEAD_ASSIGNED: "owner", ev.DEAL_REASSIGNED: "to_owner", ev.HANDOFF_ACCEPTED: "to_owner"}

c = t.cadence_tasks.c


def project_cadence(connection: Connection, seq: int, event: Event) -> None:
    """Write what ``event`` changes in ``cadence_tasks`` (nothing for most events)."""
    data = event.data
    match event.type:
        case ev.CADENCE_STARTED:
            _started(connection, seq, event)
        case ev.TOUCH_DONE:
            late = (as_of(event.at) - date.fromisoformat(data["due_on"])).days
            done = {"status": "done", "done_at": event.at, "done_by": event.actor, "outcome": data["outcome"]}
            done["days_late"] = late
            connection.execute(update(t.cadence_tasks).where(c.run == data["run"], c.step == data["step"]).values(done))
            following = update(t.cadence_tasks).where(
                c.run == data["run"], c.step == data["step"] + 1, c.status == "planned"
            )
            connection.execute(following.values(status="open"))
        case ev.CADENCE_STOPPED:
            _stop(connection, and_(c.run == data["run"]), data["reason"])
        case ev.LEAD_ASSIGNED | ev.DEAL_REASSIGNED | ev.HANDOFF_ACCEPTED:
            owner = data.get(_OWNER_KEY[event.type])
            if owner:
                active = update(t.cadence_tasks).where(c.subject == event.stream, c.status.in_(ACTIVE))
                connection.execute(active.values(owner=owner))
        case kind if kind in _CLOSING:
            _stop(connection, and_(c.subject == event.stream), _CLOSING[kind])
        case _:
            pass


def _started(connection: Connection, seq: int, event: Event) -> None:
    data = event.data
    kind = event.stream.split(":", 1)[0]
    rows = [
        {
            "run": seq,
            "step": touch["step"],
            "subject": event.stream,
            "kind": kind,
            "cadence": data["cadence"],
            "channel": touch["channel"],
            "template": touch.get("template") or "",
            "due_on": date.fromisoformat(touch["due_on"]),
            "owner": data["owner"],
            "status": "open" if i == 0 else "planned",
        }
        for i, touch in enumerate(data["touches"])
    ]
    if rows:
        connection.execute(insert(t.cadence_tasks), rows)


def _stop(connection: Connection, which: Any, reason: str) -> None:
    query = update(t.cadence_tasks).where(which, c.status.in_(ACTIVE))
    connection.execute(query.values(status="stopped", stop_reason=reason))


def next_touches(connection: Connection, subjects: Sequence[str]) -> dict[str, Row[Any]]:
    """The next touch due of each subject that has a cadence running, by subject (one read)."""
    if not subjects:
        return {}
    query = select(t.cadence_tasks).where(c.subject.in_(subjects), c.status == "open").order_by(c.due_on, c.run)
    found: dict[str, Row[Any]] = {}
    for row in connection.execute(query):
        found.setdefault(row.subject, row)
    return found


def running(connection: Connection, *, subject: str) -> CadenceRun | None:
    """The cadence running on a subject (``lead:L-1``, ``deal:D-1``), or None."""
    found = select(func.max(c.run)).where(c.subject == subject, c.status.in_(ACTIVE))
    run = connection.execute(found).scalar()
    if run is None:
        return None
    rows = connection.execute(select(t.cadence_tasks).where(c.run == run).order_by(c.step)).all()
    started = connection.execute(select(t.events.c.data).where(t.events.c.seq == run)).scalar()
    stop_on = tuple((started or {}).get("stop_on", ("reply", "meeting")))
    touches = tuple(
        RunTouch(step=r.step, channel=r.channel, template=r.template, due_on=r.due_on, done=r.status == "done")
        for r in rows
    )
    return CadenceRun(subject=subject, run=int(run), cadence=rows[0].cadence, stop_on=stop_on, touches=touches)


def subject_tasks(connection: Connection, *, subject: str) -> Sequence[Row[Any]]:
    """Every touch of every cadence of a subject, the latest cadence first, then by step."""
    query = select(t.cadence_tasks).where(c.subject == subject).order_by(c.run.desc(), c.step)
    return connection.execute(query).all()


def next_task(connection: Connection, *, subject: str) -> Row[Any] | None:
    """The next open touch of a subject's running cadence, or None."""
    query = select(t.cadence_tasks).where(c.subject == subject, c.status == "open").order_by(c.due_on, c.run)
    return connection.execute(query.limit(1)).first()


def due_tasks(connection: Connection, *, owner: str, today: date, limit: int = 500) -> Sequence[Row[Any]]:
    """An owner's touches due today or before and not done, oldest first, with what they are about."""
    query = (
        select(t.cadence_tasks)
        .where(c.owner == owner, c.status == "open", c.due_on <= today)
        .order_by(c.due_on, c.run, c.step)
        .limit(limit)
    )
    return connection.execute(query).all()


def titles(connection: Connection, subjects: Sequence[str]) -> dict[str, str]:
    """What each subject is called: a lead's name and company, a deal's title."""
    leads = [s.split(":", 1)[1] for s in subjects if s.startswith("lead:")]
    deals = [s.split(":", 1)[1] for s in subjects if s.startswith("deal:")]
    found: dict[str, str] = {}
    if leads:
        query = select(t.leads.c.id, t.leads.c.name, t.leads.c.company).where(t.leads.c.id.in_(leads))
        for r in connection.execute(query):
            found[f"lead:{r.id}"] = f"{r.name} ({r.company})" if r.company else r.name
    if deals:
        for deal in connection.execute(select(t.deals.c.id, t.deals.c.title).where(t.deals.c.id.in_(deals))):
            found[f"deal:{deal.id}"] = deal.title
    return found


def overdue(due_on: date, today: date) -> bool:
    """Whether a touch due on ``due_on`` is overdue on ``today``: its day has gone by."""
    return due_on < today


def count_due(connection: Connection, *, today: date) -> int:
    """How many next touches are due today or overdue, over every owner."""
    query = select(func.count()).select_from(t.cadence_tasks).where(c.status == "open", c.due_on <= today)
    return int(connection.execute(query).scalar() or 0)


def count_overdue(connection: Connection, *, today: date) -> int:
    """How many next touches are overdue on ``today``, over every owner (one range of an index)."""
    query = select(func.count()).select_from(t.cadence_tasks).where(c.status == "open", c.due_on < today)
    return int(connection.execute(query).scalar() or 0)


def as_of(moment: datetime) -> date:
    """The day a moment falls on, the day touches are due by (UTC)."""
    return moment.date()
