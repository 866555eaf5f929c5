"""Writes that overlap with the caller's work: batch after batch on one connection, each written while
the caller prepares the next.

On PostgreSQL a batch is written on a background thread, so that the server takes it in meanwhile; the
connection is the writer's until :meth:`BackgroundWrites.wait` returns. On SQLite each batch is written
right away unless the caller asks otherwise: its driver lets go of the interpreter lock only while
SQLite itself works on a row, so a background writer pays off only beside work that lets go of it too
(polars' column operations), not beside Python code.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Self

from sqlalchemy import Connection


class BackgroundWrites:
    """Runs one write at a time on ``connection``. Use it in a ``with`` block: the block ends once every
    write is done (and :meth:`finish` has run), or, if it raises, once the write under way has stopped,
    so that the transaction can be rolled back."""

    def __init__(self, connection: Connection, *, background_on_sqlite: bool = False) -> None:
        self.connection = connection
        background = connection.dialect.name == "postgresql" or background_on_sqlite
        self._executor = ThreadPoolExecutor(max_workers=1) if background else None
        self._pending: Future[None] | None = None

    @property
    def background(self) -> bool:
        """Whether writes run on a thread of their own."""
        return self._executor is not None

    def submit(self, write: Callable[..., None], *args: object) -> None:
        """Run ``write(*args)`` once the previous write is done: in the background where there is one."""
        self.wait()
        if self._executor is None:
            write(*args)
        else:
            self._pending = self._executor.submit(write, *args)

    def wait(self) -> None:
        """Return once every write is done (raising what a write raised)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def finish(self) -> None:
        """What to write after the last batch, when the block ends without an error (nothing here)."""

    def close(self) -> None:
        """Let go of what the writer holds, however the block ended."""
        if self._executor is not None:
            self._executor.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.wait()
                self.finish()
            elif self._pending is not None:
                self._pending.exception()  # the write ends before the transaction is rolled back
        finally:
            self.close()
