"""A user's changed name, roles, team or email, written to the users table from a UserChanged event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, update

from dealflow.store import tables as t

CHANGEABLE = ("name", "roles", "team", "email")


def project_user_change(connection: Connection, *, user_id: str, data: Mapping[str, Any]) -> None:
    """Apply the changes a UserChanged event carries to the user's row."""
    values = {name: data[name] for name in CHANGEABLE if name in data}
    if values:
        connection.execute(update(t.users).where(t.users.c.id == user_id).values(**values))
