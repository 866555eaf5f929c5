"""Use cases that set up a workspace: processes, users, accounts and contacts."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from typing import Any

from dealflow.domain import events as ev
from dealflow.domain.decisions import Actor
from dealflow.domain.events import Event
from dealflow.errors import Conflict, Forbidden, InvalidInput, NotFound, Refused
from dealflow.process.loading import parse_process
from dealflow.process.models import DEFAULT_ROLES, Process
from dealflow.services import access
from dealflow.services.lookups import load_actor
from dealflow.services.recording import record_events
from dealflow.store import queries, server_addresses
from dealflow.store import tables as t
from dealflow.store.processes import DEFAULT_PROCESS, default_process_key, load_process
from dealflow.store.unit_of_work import UnitOfWork
from dealflow.store.user_changes import CHANGEABLE

SYSTEM = "system"
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PROCESS_ADMIN_ROLES = ("revops", "admin")


def _identifier(value: str, field: str) -> str:
    value = value.strip().lower()
    if not _ID.match(value):
        raise InvalidInput(f"'{value[:40]}' must be 1-64 lowercase letters, digits, '.', '_' or '-'", field=field)
    return value


def _name(value: str, field: str = "name") -> str:
    value = value.strip()
    if not value or len(value) > 200:
        raise InvalidInput("must be 1-200 characters", field=field)
    return value


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not _EMAIL.match(value) or len(value) > 254:
        raise InvalidInput(f"not an email address: {value[:60]!r}", field="email")
    return value


def install_process(*, uow: UnitOfWork, source: str, name: str, actor_id: str | None = None) -> Process:
    """Validate a process file and install it as a new version (a newer version than installed)."""
    process, _warnings = parse_process(source, name=name)
    connection = uow.connection
    if actor_id is not None:
        row = queries.get_user(connection, user_id=actor_id)
        if row is None:
            raise NotFound(f"no user '{actor_id}'")
        if not set(row.roles) & set(PROCESS_ADMIN_ROLES):
            raise Forbidden("only revops or admin may install a process")
    current = queries.process_source(connection, key=process.key)
    if current is not None and current.version >= process.version:
        raise Conflict(
            f"{process.key} is installed at version {current.version}: raise `version` in the file to install changes"
        )
    data = {"key": process.key, "version": process.version, "name": process.name, "source": source}
    now = uow.clock()
    record_events(uow, [Event(ev.PROCESS_INSTALLED, f"process:{process.key}", now, actor_id or SYSTEM, data)])
    uow.commit()
    return process


def choose_default_process(*, uow: UnitOfWork, key: str, actor_id: str) -> Process:
    """Make an installed process the workspace's default: what the board, metrics and new leads use
    when no process is named (revops or admin only)."""
    connection = uow.connection
    access.administer(load_actor(connection, user_id=actor_id), "choose the default process")
    process = load_process(connection, key=key)
    if default_process_key(connection) != process.key:
        data = {"name": DEFAULT_PROCESS, "value": process.key}
        record_events(uow, [Event(ev.WORKSPACE_SETTING_CHANGED, "workspace:settings", uow.clock(), actor_id, data)])
        uow.commit()
    return process


def announce_server(*, uow: UnitOfWork, host: str, port: int) -> str:
    """Record the address the web server is starting at, for the links the command line gives out;
    returns it. A server listening on every interface is announced by this machine's name."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
    server_addresses.announce(uow.connection, url=url, at=uow.clock())
    uow.commit()
    return url


def add_user(
    *,
    uow: UnitOfWork,
    user_id: str,
    name: str,
    roles: list[str],
    team: str | None = None,
    email: str | None = None,
    actor_id: str | None = None,
) -> Actor:
    """Add a user with their roles and team."""
    user_id = _identifier(user_id, "id")
    roles = _roles(roles)
    connection = uow.connection
    if queries.get_user(connection, user_id=user_id) is not None:
        raise Conflict(f"user '{user_id}' already exists")
    data = {"name": _name(name), "roles": roles, "team": team, "email": _email(email)}
    record_events(uow, [Event(ev.USER_ADDED, f"user:{user_id}", uow.clock(), actor_id or SYSTEM, data)])
    uow.commit()
    return Actor(id=user_id, roles=tuple(data["roles"]), team=team)  # type: ignore[arg-type]


def _roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in DEFAULT_ROLES and not re.match(r"^[a-z][a-z0-9_]{0,31}$", r)]
    if not roles or unknown:
        raise InvalidInput(f"give one or more roles, such as {', '.join(DEFAULT_ROLES)}", field="roles")
    return sorted(set(roles))


def _changed_value(name: str, value: Any) -> Any:
    match name:
        case "name":
            return _name(str(value))
        case "roles":
            return _roles(list(value or []))
        case "team":
            return _identifier(str(value), "team") if value else None
        case _:
            return _email(None if value is None else str(value))


def _changed_values(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(unknown)} (only {', '.join(CHANGEABLE)})", field=unknown[0])
    return {name: _changed_value(name, value) for name, value in changes.items()}


def change_user(*, uow: UnitOfWork, user_id: str, changes: Mapping[str, Any], actor_id: str | None = None) -> Actor:
    """Change a user's name, roles, team or email (revops or admin only); new roles apply at once."""
    connection = uow.connection
    if actor_id is not None:
        actor = queries.get_user(connection, user_id=actor_id)
        if actor is None or not set(actor.roles) & set(PROCESS_ADMIN_ROLES):
            raise Forbidden("only revops or admin may change users")
    row = queries.get_user(connection, user_id=user_id)
    if row is None:
        raise NotFound(f"no user '{user_id}'")
    data = {name: value for name, value in _changed_values(changes).items() if value != getattr(row, name)}
    roles = data.get("roles", row.roles)
    if data and not set(roles) & set(PROCESS_ADMIN_ROLES) and set(row.roles) & set(PROCESS_ADMIN_ROLES):
        admins = [u.id for u in queries.list_users(connection) if set(u.roles) & set(PROCESS_ADMIN_ROLES)]
        if admins == [user_id]:
            raise Refused(f"{user_id} is the last revops or admin user: give the role to someone else first")
    if data:
        record_events(uow, [Event(ev.USER_CHANGED, f"user:{user_id}", uow.clock(), actor_id or SYSTEM, data)])
        uow.commit()
    return Actor(id=user_id, roles=tuple(roles), team=data.get("team", row.team))


def add_account(*, uow: UnitOfWork, actor_id: str, account_id: str, name: str, domain: str | None = None) -> str:
    """Add an account (a buying company)."""
    account_id = _identifier(account_id, "id")
    if queries.exists(uow.connection, t.accounts, account_id):
        raise Conflict(f"account '{account_id}' already exists")
    data = {"name": _name(name), "domain": (domain or "").strip().lower() or None}
    record_events(uow, [Event(ev.ACCOUNT_CREATED, f"account:{account_id}", uow.clock(), actor_id, data)])
    uow.commit()
    return account_id


def add_contact(
    *,
    uow: UnitOfWork,
    actor_id: str,
    contact_id: str,
    name: str,
    email: str | None = None,
    title: str | None = None,
    account_id: str | None = None,
) -> str:
    """Add a contact (a person on the buying side)."""
    contact_id = _identifier(contact_id, "id")
    connection = uow.connection
    if queries.exists(connection, t.contacts, contact_id):
        raise Conflict(f"contact '{contact_id}' already exists")
    if account_id is not None and not queries.exists(connection, t.accounts, account_id):
        raise NotFound(f"no account '{account_id}'")
    data = {
        "name": _name(name),
        "email": _email(email),
        "title": _name(title, "title") if title else None,
        "account_id": account_id,
    }
    record_events(uow, [Event(ev.CONTACT_CREATED, f"contact:{contact_id}", uow.clock(), actor_id, data)])
    uow.commit()
    return contact_id
