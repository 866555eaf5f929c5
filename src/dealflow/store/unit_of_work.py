"""A unit of work: one connection and one transaction per user action, committed once or not at all."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from dealflow.domain.events import Event
from dealflow.errors import Conflict, StorageError
from dealflow.store.engine import redact

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC: the clock used outside tests."""
    return datetime.now(UTC)


class UnitOfWork:
    """Opens a transaction on enter; rolls back on exit unless :meth:`commit` was called."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self._connection: Connection | None = None
        # The events appended in this unit of work, numbered by seq, in order: what the use cases
        # look at to choose the effects of events (see dealflow.services.recording).
        self.recorded: list[tuple[int, Event]] = []

    @property
    def connection(self) -> Connection:
        """The open connection of this unit of work."""
        if self._connection is None:
            raise RuntimeError("the unit of work is not open: use it in a with block")
        return self._connection

    def __enter__(self) -> Self:
        try:
            self._connection = self.engine.connect()
            self._connection.begin()
        except DBAPIError as exc:
            raise StorageError(f"cannot reach the database at {redact(str(self.engine.url))}: {exc.orig}") from None
        return self

    def commit(self) -> None:
        """Make every change of this unit of work permanent, or raise Conflict/StorageError."""
        try:
            self.connection.commit()
        except DBAPIError as exc:
            raise translate(exc) from None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.rollback()
        finally:
            connection.close()


def translate(exc: DBAPIError) -> Exception:
    """Turn a driver error into the dealflow error a user can act on."""
    text = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if isinstance(exc, IntegrityError):
        return Conflict(f"someone else changed this record at the same time; reload and try again ({text})")
    if isinstance(exc, OperationalError) and ("locked" in text or "could not serialize" in text):
        return Conflict(f"the record is busy with another change; try again ({text})")
    return StorageError(f"database error: {text}")
