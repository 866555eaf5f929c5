"""Reads of the state tables for the edges and the services: deals, users, processes, handoffs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, Text, bindparam, cast, func, select

from dealflow.domain.deals import Deal
from dealflow.domain.events import PROCESS_INSTALLED
from dealflow.store import driver_rows
from dealflow.store import tables as t

# The statements every command runs are built once: SQLAlchemy then reuses their compiled form
# without rebuilding and re-hashing the statement on each call.
# The state comes back as JSON text and is parsed straight into a Deal (no dict in between).
_DEAL_STATE = select(cast(t.deals.c.state, Text)).where(t.deals.c.id == bindparam("deal_id"))
_USER = select(t.users).where(t.users.c.id == bindparam("user_id"))
_USER_AND_DEAL_STATE = select(t.users, _DEAL_STATE.scalar_subquery().label("deal_state")).where(
    t.users.c.id == bindparam("user_id")
)


def get_deal(connection: Connection, *, deal_id: str) -> Deal | None:
    """The current state of a deal, or None."""
    state = connection.execute(_DEAL_STATE, {"deal_id": deal_id}).scalar()
    return None if state is None else Deal.model_validate_json(state)


# The same read on SQLite, straight to the driver (every deal command starts with it).
_SQLITE_USER_AND_DEAL_STATE = "SELECT id, roles, team, (SELECT state FROM deals WHERE id = ?) FROM users WHERE id = ?"


def get_user_and_deal(
    connection: Connection, *, user_id: str, deal_id: str
) -> tuple[tuple[str, list[str], str | None] | None, Deal | None]:
    """A user's id, roles and team and a deal's state in one round trip (the deal is None when the
    user is)."""
    if connection.dialect.name == "sqlite":
        found = driver_rows.first(connection, _SQLITE_USER_AND_DEAL_STATE, (deal_id, user_id))
        if found is None:
            return None, None
        user_id, roles, team, state = found
        return (user_id, json.loads(roles), team), None if state is None else Deal.model_validate_json(state)
    row = connection.execute(_USER_AND_DEAL_STATE, {"user_id": user_id, "deal_id": deal_id}).first()
    if row is None:
        return None, None
    user = (row.id, list(row.roles), row.team)
    return user, None if row.deal_state is None else Deal.model_validate_json(row.deal_state)


def next_deal_number(connection: Connection) -> int:
    """The number for the next ``D-n`` deal id."""
    return int(connection.execute(select(func.max(t.deals.c.number))).scalar() or 0) + 1


def list_deals(
    connection: Connection,
    *,
    stage: str | None = None,
    owner: str | None = None,
    status: str | None = "open",
    process: str | None = None,
    limit: int = 200,
    offset: int = 0,
    team: str | None = None,
) -> Sequence[Any]:
    """Deals matching the filters (``team``: whose owner is in it), newest first, with their next step."""
    d, n = t.deals, t.next_steps
    query = (
        select(
            d.c.id,
            d.c.title,
            d.c.process,
            d.c.stage,
            d.c.status,
            d.c.owner,
            d.c.amount,
            d.c.close_date,
            d.c.stage_entered_at,
            n.c.action.label("next_step"),
            n.c.due.label("next_step_due"),
            n.c.buyer_confirmed,
        )
        .outerjoin(n, n.c.deal_id == d.c.id)
        .order_by(d.c.number.desc().nulls_last(), d.c.id)
        .limit(limit)
        .offset(offset)
    )
    for column, value in ((d.c.stage, stage), (d.c.owner, owner), (d.c.status, status), (d.c.process, process)):
        if value is not None:
            query = query.where(column == value)
    if team is not None:
        query = query.where(d.c.owner.in_(select(t.users.c.id).where(t.users.c.team == team)))
    return connection.execute(query).all()


def get_user(connection: Connection, *, user_id: str) -> Row[Any] | None:
    """A user's row, or None."""
    return connection.execute(_USER, {"user_id": user_id}).first()


def list_users(connection: Connection) -> Sequence[Row[Any]]:
    """Every user, by id."""
    return connection.execute(select(t.users).order_by(t.users.c.id)).all()


def open_deal_counts(connection: Connection) -> dict[str, int]:
    """How many open deals each owner holds."""
    query = select(t.deals.c.owner, func.count()).where(t.deals.c.status == "open").group_by(t.deals.c.owner)
    return dict(connection.execute(query).all())


def process_source(connection: Connection, *, key: str, version: int | None = None) -> Row[Any] | None:
    """The stored YAML of a process version (the newest when ``version`` is None)."""
    query = select(t.processes).where(t.processes.c.key == key)
    if version is not None:
        query = query.where(t.processes.c.version == version)
    return connection.execute(query.order_by(t.processes.c.version.desc()).limit(1)).first()


def workspace_setting(connection: Connection, *, name: str) -> Any:
    """The value of a workspace setting, or None if it was never set."""
    settings = t.workspace_settings
    return connection.scalar(select(settings.c.value).where(settings.c.name == name))


def first_installed_process(connection: Connection) -> str | None:
    """The key of the process installed first in the workspace (the first ProcessInstalled event
    in the log), or None if none is."""
    events = t.events
    query = select(events.c.stream).where(events.c.type == PROCESS_INSTALLED).order_by(events.c.seq).limit(1)
    stream = connection.scalar(query)
    return None if stream is None else str(stream).removeprefix("process:")


def list_processes(connection: Connection) -> Sequence[Row[Any]]:
    """The newest version of every installed process."""
    newest = (
        select(t.processes.c.key, func.max(t.processes.c.version).label("version"))
        .group_by(t.processes.c.key)
        .subquery()
    )
    query = (
        select(t.processes)
        .join(newest, (newest.c.key == t.processes.c.key) & (newest.c.version == t.processes.c.version))
        .order_by(t.processes.c.key)
    )
    return connection.execute(query).all()


def list_handoffs(
    connection: Connection, *, to_owner: str | None = None, status: str | None = "pending"
) -> Sequence[Any]:
    """Handoffs, oldest deadline first, with the deal's title."""
    h = t.handoffs
    query = select(h, t.deals.c.title).join(t.deals, t.deals.c.id == h.c.deal_id).order_by(h.c.due_at, h.c.id)
    if to_owner is not None:
        query = query.where(h.c.to_owner == to_owner)
    if status is not None:
        query = query.where(h.c.status == status)
    return connection.execute(query).all()


def get_handoff(connection: Connection, *, handoff_id: str) -> Row[Any] | None:
    """A handoff's row, or None."""
    return connection.execute(select(t.handoffs).where(t.handoffs.c.id == handoff_id)).first()


def deal_activities(connection: Connection, *, deal_id: str) -> Sequence[Row[Any]]:
    """A deal's activities, oldest first."""
    a = t.activities
    return connection.execute(select(a).where(a.c.deal_id == deal_id).order_by(a.c.at, a.c.seq)).all()


def deal_contacts(connection: Connection, *, deal_id: str) -> Sequence[Any]:
    """The contacts attached to a deal, with their role on it."""
    dc, c = t.deal_contacts, t.contacts
    query = (
        select(c.c.id, c.c.name, c.c.email, c.c.title, dc.c.role)
        .join(c, c.c.id == dc.c.contact_id)
        .where(dc.c.deal_id == deal_id)
        .order_by(dc.c.attached_at, c.c.id)
    )
    return connection.execute(query).all()


def next_lead_number(connection: Connection) -> int:
    """The number for the next ``L-n`` lead id."""
    return int(connection.execute(select(func.max(t.leads.c.number))).scalar() or 0) + 1


def get_lead(connection: Connection, *, lead_id: str) -> Row[Any] | None:
    """A lead's row, or None."""
    return connection.execute(select(t.leads).where(t.leads.c.id == lead_id)).first()


def list_leads(
    connection: Connection, *, status: str | None = "open", owner: str | None = None, by_score: bool = False
) -> Sequence[Any]:
    """Leads, newest first (or the highest fit and intent score first)."""
    query = select(t.leads)
    if by_score:
        query = query.order_by(t.leads.c.score.desc().nulls_last())
    query = query.order_by(t.leads.c.number.desc().nulls_last(), t.leads.c.id)
    if status is not None:
        query = query.where(t.leads.c.status == status)
    if owner is not None:
        query = query.where(t.leads.c.owner == owner)
    return connection.execute(query).all()


def exists(connection: Connection, table: Any, key: str) -> bool:
    """True when ``table`` has a row with primary key ``key``."""
    return connection.execute(select(table.c.id).where(table.c.id == key)).first() is not None


def count_events(connection: Connection) -> int:
    """How many events the log holds."""
    return int(connection.execute(select(func.count()).select_from(t.events)).scalar() or 0)
