"""Where ``dealflow serve`` last said it serves the workspace: what the command line gives as the
start of the links it prints (a calendar feed) when no base URL is set."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select

from dealflow.store import tables as t

WEB = "web"


def announce(connection: Connection, *, url: str, at: datetime) -> None:
    """Record that the web server serves this workspace at ``url`` from ``at`` on."""
    addresses = t.server_addresses
    connection.execute(delete(addresses).where(addresses.c.name == WEB))
    connection.execute(insert(addresses), {"name": WEB, "url": url[:300], "started_at": at})


def announced(connection: Connection) -> Row[Any] | None:
    """The address (``url``, ``started_at``) the web server last announced, or None."""
    addresses = t.server_addresses
    return connection.execute(select(addresses).where(addresses.c.name == WEB)).first()
