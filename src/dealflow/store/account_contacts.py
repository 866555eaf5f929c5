"""The contacts a deal can attach: those of its account, for the pages' pickers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from dealflow.store import tables as t

PICKER_LIMIT = 200


def contacts_for(connection: Connection, *, account_id: str | None) -> Sequence[Any]:
    """The contacts of an account by name (none when the deal has no account)."""
    if account_id is None:
        return []
    c = t.contacts
    query = select(c.c.id, c.c.name, c.c.title).where(c.c.account_id == account_id).order_by(c.c.name, c.c.id)
    return connection.execute(query.limit(PICKER_LIMIT)).all()
