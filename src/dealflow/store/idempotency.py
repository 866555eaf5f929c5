"""Idempotency keys: the response to a creating request, kept per user and key so a retry replays it.

The key's row is written in the same transaction as the change the request made (see
:class:`HeldUnitOfWork`), so either both are committed or neither is: a retry can never apply
the change twice, whichever app instance it reaches.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select
from sqlalchemy.exc import DBAPIError

from dealflow.store import tables as t
from dealflow.store.unit_of_work import UnitOfWork, translate

RETENTION = timedelta(hours=24)


class HeldUnitOfWork(UnitOfWork):
    """A unit of work whose use case's commit is held until :meth:`release`, so that the change and
    the response to replay for it are committed together."""

    def commit(self) -> None:
        """Hold the commit: :meth:`release` makes it."""

    def release(self) -> None:
        """Commit everything written in this unit of work."""
        super().commit()


def find(connection: Connection, *, user_id: str, key: str, now: datetime) -> Row[Any] | None:
    """The stored answer under a user's key, unless it is older than the retention."""
    k = t.idempotency_keys
    query = select(k).where(k.c.user_id == user_id, k.c.key == key, k.c.created_at > now - RETENTION)
    return connection.execute(query).first()


def save(
    connection: Connection, *, user_id: str, key: str, fingerprint: str, status_code: int, response: str, now: datetime
) -> None:
    """Keep the answer to a request under its key (dropping the user's answers past the retention)."""
    k = t.idempotency_keys
    try:
        connection.execute(delete(k).where(k.c.user_id == user_id, k.c.created_at <= now - RETENTION))
        row = {"user_id": user_id, "key": key, "fingerprint": fingerprint, "status_code": status_code}
        connection.execute(insert(k).values(**row, response=response, created_at=now))
    except DBAPIError as exc:
        raise translate(exc) from None
