"""Statements a live command runs on SQLite sent straight to the driver: the same SQL SQLAlchemy would
send, the values as its column types bind them, at a fraction of a statement's round through it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.exc import DBAPIError

Bind = Callable[[Any], Any] | None
_binds: dict[tuple[Dialect, str, tuple[str, ...]], list[tuple[str, Bind]]] = {}


def insert_sql(table: Table, columns: Sequence[str]) -> str:
    """``INSERT INTO table (columns) VALUES (?, ...)``."""
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


def bound(dialect: Dialect, table: Table, columns: Sequence[str], row: Mapping[str, object]) -> tuple[object, ...]:
    """The values of ``row`` for ``columns`` of ``table``, each as its column type hands it to the driver."""
    key = (dialect, table.name, tuple(columns))
    binds = _binds.get(key)
    if binds is None:
        binds = _binds[key] = [(c, table.c[c].type.dialect_impl(dialect).bind_processor(dialect)) for c in columns]
    return tuple(row[name] if bind is None else bind(row[name]) for name, bind in binds)


@contextmanager
def _cursor(connection: Connection) -> Iterator[Callable[[str, Sequence[object]], sqlite3.Cursor]]:
    """An ``execute(sql, values)`` on a cursor of the connection's SQLite driver, raising a driver error
    as SQLAlchemy raises it (for the callers' translation); the cursor is closed afterwards."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def execute(sql: str, values: Sequence[object]) -> sqlite3.Cursor:
        try:
            return cursor.execute(sql, values)  # type: ignore[no-any-return]
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc

    try:
        yield execute
    finally:
        cursor.close()


def run(connection: Connection, statements: Iterable[tuple[str, Sequence[object]]]) -> list[int | None]:
    """Run each ``(sql, values)`` on the connection's SQLite driver, in order; the row id each inserted
    (``lastrowid``)."""
    with _cursor(connection) as execute:
        return [execute(sql, values).lastrowid for sql, values in statements]


def first(connection: Connection, sql: str, values: Sequence[object]) -> tuple[Any, ...] | None:
    """The first row ``sql`` answers on the connection's SQLite driver, as the driver returns it."""
    with _cursor(connection) as execute:
        row: tuple[Any, ...] | None = execute(sql, values).fetchone()
        return row
