"""Writing many rows at once past SQLAlchemy's per-row parameter handling (imports of large
histories): COPY on PostgreSQL, the driver's own executemany on SQLite.

Rows go in as tuples in the order of the columns named, each value already in the form the
driver stores (see :class:`Storage`), so the tables read back exactly as if SQLAlchemy had
written them. The writes join the connection's open transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Connection, Constraint, ForeignKeyConstraint, Table, UniqueConstraint, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import AddConstraint, DropConstraint

from dealflow.store import tables as t
from dealflow.store.unit_of_work import translate


def _identity(value: object) -> object:
    return value


def _sqlite_stamp(moment: datetime) -> str:
    # UtcDateTime stores naive UTC on SQLite, in SQLAlchemy's SQLite DATETIME text format.
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store; times must carry a timezone")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _refuse(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# json.dumps builds a new C encoder on every call, which costs more than encoding a small payload;
# this one is built once with the settings json.dumps uses by default, so the text is the same.
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_ENCODER = (
    None
    if _make_encoder is None
    else _make_encoder(None, _refuse, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
)


def json_text(value: object) -> str:
    """``value`` as JSON text, exactly as ``json.dumps(value)`` (SQLAlchemy's JSON type) writes it."""
    if _ENCODER is None or isinstance(value, str):
        return json.dumps(value)
    return "".join(_ENCODER(value, 0))


def _sqlite_money(value: Decimal) -> float:
    return float(value)  # what SQLAlchemy's Numeric binds on SQLite


def _sqlite_day(value: date) -> str:
    return value.isoformat()


def _sqlite_flag(value: bool) -> int:
    return 1 if value else 0


class Storage:
    """How values reach the driver on one backend: timestamps, amounts, dates, booleans, JSON.

    On PostgreSQL the driver adapts Python values itself; on SQLite they are turned into what
    SQLAlchemy's column types bind (timestamps as naive UTC text, amounts as floats...). JSON is
    always text written the way SQLAlchemy writes it (``json.dumps`` with default settings)."""

    def __init__(self, dialect: str) -> None:
        sqlite = dialect == "sqlite"
        self.stamp: Callable[[datetime], object] = _sqlite_stamp if sqlite else _identity
        self.money: Callable[[Decimal], object] = _sqlite_money if sqlite else _identity
        self.day: Callable[[date], object] = _sqlite_day if sqlite else _identity
        self.flag: Callable[[bool], object] = _sqlite_flag if sqlite else _identity
        self.json: Callable[[object], str] = json_text


def storage(connection: Connection) -> Storage:
    """The value forms of the connection's backend."""
    return Storage(connection.dialect.name)


def write_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    """Insert ``rows`` (values in the order of ``columns``, in :class:`Storage` form) into ``table``."""
    if not rows:
        return
    names = ", ".join(columns)
    driver = connection.connection.driver_connection
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        if connection.dialect.name == "postgresql":
            with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            driver.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)  # type: ignore[union-attr]
    except dbapi_error as exc:
        wrapped = DBAPIError.instance(f"bulk insert into {table.name}", None, exc, dbapi_error)
        raise (translate(wrapped) if isinstance(wrapped, DBAPIError) else wrapped) from None


LARGE_CACHE_KIB = 1 << 20  # 1 GiB, taken only as pages are read or written
SORT_MEMORY = "256MB"  # PostgreSQL's maintenance_work_mem while a first import builds its indexes


@contextmanager
def large_writes(connection: Connection) -> Iterator[None]:
    """Room for writing a large history in one transaction. On SQLite the page cache grows so the
    B-trees being written stay in memory until the commit, rather than spilling to the WAL and being
    read back page by page (a third of the time of a million-row import with the default 2 MiB)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{LARGE_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before or 0)}")


@contextmanager
def indexes_built_after(connection: Connection, tables: Sequence[Table]) -> Iterator[bool]:
    """Into a workspace without deals (a first import), write ``tables`` without their secondary
    indexes and build those once the rows are in, in the same transaction: building an index over
    the rows is cheaper than keeping it in order row by row. On PostgreSQL their unique and foreign-key
    constraints go the same way (added back, each is checked over the rows at once), and the index
    builds get the memory to sort in. If the block raises, the transaction's rollback brings them all
    back. With deals already there: nothing changes. Yields whether it is a first import.

    On PostgreSQL this locks the tables (and, on a first import, the event numbers, see
    :func:`dealflow.store.event_log.allocate_seqs`) until the transaction ends, as any change to a
    table's definition does: other writers wait for the import."""
    if connection.execute(select(t.deals.c.id).limit(1)).first() is not None:
        yield False
        return
    deferred = [index for table in tables for index in table.indexes if not index.unique]
    constraints: list[Constraint] = []
    if connection.dialect.name == "postgresql":
        kinds = (UniqueConstraint, ForeignKeyConstraint)
        constraints = [c for table in tables for c in table.constraints if isinstance(c, kinds)]
        connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{SORT_MEMORY}'")
    for constraint in constraints:
        connection.execute(DropConstraint(constraint))
    for index in deferred:
        index.drop(connection)
    yield True
    for index in deferred:
        index.create(connection)
    for constraint in constraints:
        connection.execute(AddConstraint(constraint))


@contextmanager
def sole_writer(connection: Connection) -> Iterator[None]:
    """A large write into a SQLite file no other connection has open goes through a rollback journal
    instead of the write-ahead log: each page is written once, into the file, instead of into the log
    and then copied again by the checkpoint (half the commit of a million-row import). It is as
    durable and as atomic; readers that connect meanwhile still read, in that mode. Use it around the
    whole unit of work, commit included, before anything is written; afterwards the file goes back to
    its mode (if another connection has it open by then, the next one to open it alone switches it).
    Elsewhere (PostgreSQL, a transaction already open, another connection): nothing changes."""
    driver = connection.connection.driver_connection
    if connection.dialect.name != "sqlite" or _in_transaction(driver):
        yield
        return
    before = str(connection.exec_driver_sql("PRAGMA journal_mode").scalar())
    if before.lower() != "wal" or not _switched(connection, "delete"):
        yield
        return
    try:
        yield
    except BaseException:
        connection.rollback()  # the journal mode changes only outside a transaction
        raise
    finally:
        if not _in_transaction(driver):  # committed or rolled back (else the next lone connection switches)
            _switched(connection, before)


def _in_transaction(driver: object) -> bool:
    return bool(getattr(driver, "in_transaction", True))


def _switched(connection: Connection, mode: str) -> bool:
    """Whether the file is now in journal ``mode``: SQLite refuses while another connection has it
    open (it answers "database is locked" at once, without waiting)."""
    dbapi_error = connection.dialect.loaded_dbapi.OperationalError
    try:
        return str(connection.exec_driver_sql(f"PRAGMA journal_mode={mode}").scalar()).lower() == mode
    except DBAPIError as exc:
        if isinstance(exc.orig, dbapi_error) and "locked" in str(exc.orig):
            return False
        raise
