"""Statements a live command runs on SQLite sent straight to the driver: the same SQL SQLAlchemy would
send, the values as its column types bind them, at a fraction of a statement's round through it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def run(connection: Connection, statements: Iterable[tuple[str, Sequence[object]]]) -> list[int | None]:
    """Run each ``(sql, values)`` on the connection's SQLite driver, in order; the row id each inserted
    (``lastrowid``). A driver error is raised as SQLAlchemy raises it, for the callers' translation."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    ids = []
    try:
        for sql, values in statements:
            try:
                cursor.execute(sql, values)
            except sqlite3.Error as exc:
                raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc
            ids.append(cursor.lastrowid)
    finally:
        cursor.close()
    return ids


def first(connection: Connection, sql: str, values: Sequence[object]) -> tuple[Any, ...] | None:
    """The first row ``sql`` answers on the connection's SQLite driver, as the driver returns it."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        try:
            cursor.execute(sql, values)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row
    finally:
        cursor.close()
