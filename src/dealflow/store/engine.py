"""Connecting to the workspace database (SQLite file or PostgreSQL) and setting up its schema."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from dealflow.errors import StorageError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, durable: bool = True) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        # A large import holds the file in rollback-journal mode (store.bulk.sole_writer): work in
        # that mode meanwhile; a connection that opens the file alone later switches it back.
        if "locked" not in str(exc):
            raise
    # FULL: a committed event survives a power cut (NORMAL may lose the last commits in WAL mode).
    cursor.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_pragmas_not_durable(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record, durable=False)


def redact(url: str) -> str:
    """The URL with any password hidden, fit to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"


def make_engine(url: str, *, durable: bool = True) -> Engine:
    """An engine for ``url``; nothing connects until first use.

    ``durable=False`` lets SQLite skip the flush to disk at each commit: only for data that can be
    made again, like a demo being seeded (a crash may lose it; it is never half-committed).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas if durable else _sqlite_pragmas_not_durable)
        return engine
    return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    folder = resources.files("dealflow.store").joinpath("migrations")
    config.set_main_option("script_location", str(folder))
    return config


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration."""
    config = _alembic_config(engine)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except DBAPIError as exc:
        raise StorageError(f"cannot set up the database at {redact(str(engine.url))}: {_first_line(exc)}") from None


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]


def _missing_sqlite_file(engine: Engine) -> str | None:
    """The path of the SQLite file ``engine`` names if it does not exist yet, else None."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return None if Path(database).exists() else database


def check_ready(engine: Engine) -> None:
    """Raise StorageError unless the database is reachable and its schema is current.

    A SQLite file that does not exist is refused before connecting, which would create it: a typo
    in --db or a command run in the wrong folder leaves no empty file behind.
    """
    if (missing := _missing_sqlite_file(engine)) is not None:
        raise StorageError(
            f"no dealflow workspace at {redact(str(engine.url))}: there is no file {missing}; "
            "run `dealflow init` to create one (or `dealflow demo`)"
        )
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except DBAPIError as exc:
        raise StorageError(f"cannot reach the database at {redact(str(engine.url))}: {_first_line(exc)}") from None
    if current is None:
        raise StorageError(
            f"no dealflow workspace at {redact(str(engine.url))}: run `dealflow init` (or `dealflow demo`)"
        )
    if current != head:
        raise StorageError(f"the workspace schema is at {current}, not {head}: run `dealflow init` to upgrade")
