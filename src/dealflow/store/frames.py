"""Writing rows held as columns (polars frames) in bulk: COPY text made by polars on PostgreSQL, the
driver's executemany on SQLite.

A frame's columns carry the values in the form :class:`FrameForms` gives them for the backend,
which is what SQLAlchemy's column types store (see :mod:`dealflow.store.bulk`), so the tables read
back exactly as if it had written them. The writes join the connection's open transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

from dealflow.store.background import BackgroundWrites
from dealflow.store.unit_of_work import translate

COPY_CHUNK = 50_000  # rows per piece of COPY text


class FrameForms:
    """How values reach one backend's driver, as polars expressions: timestamps, amounts, durations,
    booleans (strings and integers go as they are)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def stamp(self, moment: pl.Expr) -> pl.Expr:
        """A UTC timestamp: SQLite's naive DATETIME text, or text PostgreSQL reads as that moment."""
        return moment.dt.to_string("%Y-%m-%d %H:%M:%S%.6f" if self.sqlite else "%Y-%m-%d %H:%M:%S%.6f+00")

    def money(self, decimal: pl.Expr) -> pl.Expr:
        """An amount written out as a decimal: a float on SQLite (what Numeric binds), else the text."""
        return decimal.cast(pl.Float64) if self.sqlite else decimal

    def seconds(self, microseconds: pl.Expr) -> pl.Expr:
        """A duration in seconds: the float ``timedelta.total_seconds`` gives, exactly (as decimal text
        on PostgreSQL, which reads it to the same float)."""
        if self.sqlite:
            return microseconds / 1_000_000
        whole, rest = microseconds // 1_000_000, microseconds % 1_000_000
        fraction = pl.when(rest == 0).then(pl.lit(".0")).otherwise("." + rest.cast(pl.String).str.pad_start(6, "0"))
        return pl.concat_str(whole.cast(pl.String), fraction)

    def flag(self, value: bool) -> pl.Expr:
        """A boolean: 0 or 1 on SQLite."""
        return pl.lit(int(value) if self.sqlite else value)


def _copy_text(frame: pl.DataFrame) -> str:
    """The rows as COPY text: tab-separated, backslash escapes, \\N for null."""
    special = [
        name
        for name, dtype in frame.schema.items()
        if dtype == pl.String and frame[name].str.contains(r"[\\\t\n\r]").any()
    ]
    escaped = [
        pl.col(name)
        .str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all("\t", "\\t", literal=True)
        .str.replace_all("\n", "\\n", literal=True)
        .str.replace_all("\r", "\\r", literal=True)
        for name in special
    ]
    return frame.with_columns(escaped).write_csv(
        include_header=False, separator="\t", quote_style="never", null_value="\\N"
    )


def write_frame(connection: Connection, table: Table, frame: pl.DataFrame) -> None:
    """Insert the rows of ``frame`` (columns named as ``table``'s, in :class:`FrameForms` form)."""
    if frame.height == 0:
        return
    names = ", ".join(frame.columns)
    driver = connection.connection.driver_connection
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        if connection.dialect.name == "postgresql":
            with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for start in range(0, frame.height, COPY_CHUNK):
                    copy.write(_copy_text(frame.slice(start, COPY_CHUNK)))
        else:
            marks = ", ".join("?" for _ in frame.columns)
            driver.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", frame.iter_rows())  # type: ignore[union-attr]
    except dbapi_error as exc:
        wrapped = DBAPIError.instance(f"bulk insert into {table.name}", None, exc, dbapi_error)
        raise (translate(wrapped) if isinstance(wrapped, DBAPIError) else wrapped) from None


class FrameWriter(BackgroundWrites):
    """Writes batches of frames, one table after another, on a thread of its own (on SQLite too: the
    caller prepares the next frames with polars meanwhile, which lets go of the interpreter lock). Use
    it in a ``with`` block."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, background_on_sqlite=True)

    def write(self, batch: Sequence[tuple[Table, pl.DataFrame]]) -> None:
        """Have the frames of ``batch`` written into their tables, in order."""
        self.submit(_write_batch, self.connection, batch)


def _write_batch(connection: Connection, batch: Sequence[tuple[Table, pl.DataFrame]]) -> None:
    for table, frame in batch:
        write_frame(connection, table, frame)
