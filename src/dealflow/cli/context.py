"""What every command shares: the --db and --as options, opening the workspace, printing results."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Engine

from dealflow.domain.decisions import Actor
from dealflow.errors import InvalidInput, NotFound
from dealflow.process.durations import parse_duration
from dealflow.services import access
from dealflow.services.lookups import load_actor
from dealflow.settings import Settings
from dealflow.store import queries
from dealflow.store.engine import check_ready, make_engine
from dealflow.store.unit_of_work import UnitOfWork

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $DEALFLOW_DATABASE_URL or sqlite:///dealflow.db)."),
]
AsOption = Annotated[
    str | None, typer.Option("--as", help="Act as this user (default: $DEALFLOW_USER, or the only admin).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

_ENGINES: dict[str, Engine] = {}


def settings_for(db: str | None) -> Settings:
    """The settings of this run, with --db taking precedence over the environment."""
    try:
        return Settings(database_url=db) if db else Settings()
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidInput(message, field="--db") from None


def engine_for(db: str | None, *, ready: bool = True) -> Engine:
    """The engine of the workspace named by --db; checks it is set up unless ``ready`` is False."""
    url = settings_for(db).database_url
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
    engine = _ENGINES[url]
    if ready:
        check_ready(engine)
    return engine


@contextmanager
def workspace(db: str | None) -> Iterator[UnitOfWork]:
    """A unit of work on the workspace named by --db."""
    with UnitOfWork(engine_for(db)) as uow:
        yield uow


def resolve_actor(uow: UnitOfWork, as_user: str | None) -> str:
    """The acting user: --as, else $DEALFLOW_USER, else the workspace's only admin."""
    chosen = as_user or os.environ.get("DEALFLOW_USER")
    users = queries.list_users(uow.connection)
    if chosen:
        if not any(u.id == chosen for u in users):
            raise NotFound(f"no user '{chosen}' (users: {', '.join(u.id for u in users) or 'none'})")
        return chosen
    admins = [u.id for u in users if "admin" in u.roles]
    if len(admins) == 1:
        return str(admins[0])
    raise InvalidInput(
        f"say who you are with --as USER or DEALFLOW_USER (users: {', '.join(u.id for u in users)})",
        field="--as",
    )


def reader(uow: UnitOfWork, as_user: str | None) -> Actor | None:
    """Who reads, for commands that only read: --as or $DEALFLOW_USER, who sees what they would
    see logged in (their own deals, their team's, or all); None without either: whoever runs the
    command on the workspace's database reads all of it."""
    chosen = as_user or os.environ.get("DEALFLOW_USER")
    if not chosen:
        return None
    return load_actor(uow.connection, user_id=resolve_actor(uow, chosen))


def report_scope(
    uow: UnitOfWork, as_user: str | None, *, owner: str | None, team: str | None
) -> tuple[str | None, str | None]:
    """The owner and team filters of a report read by ``as_user`` (see :func:`reader`)."""
    actor = reader(uow, as_user)
    return (owner, team) if actor is None else access.report_filters(actor, owner=owner, team=team)


def parse_when(text: str, *, field: str, now: datetime | None = None) -> datetime:
    """A moment from ``2026-12-01`` (end of that day, UTC), an ISO timestamp, or ``+3d``/``in 4h``."""
    raw = text.strip()
    now = now or datetime.now(UTC)
    relative = re.match(r"^(?:\+|in\s+)(.+)$", raw)
    try:
        if relative:
            return now + parse_duration(relative.group(1))
        if re.match(r"^\d{4}-\d{2}-\d{2}$", raw):
            return datetime.combine(date.fromisoformat(raw), time(23, 59), tzinfo=UTC)
        value = datetime.fromisoformat(raw)
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"not a date or time: {raw[:40]!r} (write 2026-12-01, +3d or in 4h)", field=field) from None


def pairs(items: list[str], *, field: str) -> dict[str, str]:
    """``name=value`` arguments as a dict."""
    found: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"write name=value, got {item[:40]!r}", field=field)
        found[name.strip()] = value
    return found


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_json(value: Any) -> None:
    """Print ``value`` as JSON on standard output."""
    typer.echo(json.dumps(value, default=_default, indent=2, ensure_ascii=False))


def console() -> Console:
    """A console on standard output (created per call so captured output works)."""
    return Console(highlight=False, soft_wrap=True, markup=False)
