"""Appending the whole histories of many new deals (imports), batch after batch.

Each batch is numbered and its rows worked out in one pass per deal (:mod:`dealflow.store.new_deals`)
on the caller's thread. On PostgreSQL the rows then go in with COPY on a background thread, so that
the server takes in one batch while the next is prepared; the connection is the background thread's
until :meth:`NewDealAppender.wait` returns. On SQLite each batch is written right away: its driver
takes the interpreter lock back after every row, so a background writer would mostly wait for it.
The stays' counts (``stay_durations``, rows every writer shares) are added once, at the end, so
that the import keeps them locked only from then until its commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Self

from dealflow.store import bulk
from dealflow.store.event_log import allocate_seqs, new_deal_batch, write_new_deals, write_stay_counts
from dealflow.store.new_deals import NewDeal
from dealflow.store.stay_summaries import Durations
from dealflow.store.unit_of_work import UnitOfWork


class NewDealAppender:
    """Appends the histories of new deals batch after batch. Use it in a ``with`` block, and call
    :meth:`wait` before using the connection for anything else."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.connection = uow.connection
        self.storage = bulk.storage(self.connection)
        background = self.connection.dialect.name == "postgresql"
        self._executor = ThreadPoolExecutor(max_workers=1) if background else None
        self._numbers = uow.engine.connect() if background else None  # takes event numbers meanwhile
        self._pending: Future[None] | None = None
        self._durations = Durations()

    def append(self, deals: Sequence[NewDeal]) -> int:
        """Number the deals' events, work out their rows and have them written; returns events appended."""
        total = sum(len(deal.steps) for deal in deals)
        if not total:
            return 0
        batch = new_deal_batch(deals, self._seqs(total), self.storage)
        self._durations.update(batch.durations)
        self.wait()
        if self._executor is None:
            write_new_deals(self.connection, batch)
        else:
            self._pending = self._executor.submit(write_new_deals, self.connection, batch)
        return total

    def _seqs(self, count: int) -> list[int]:
        """``count`` new event numbers (on PostgreSQL taken on a connection of their own, as event
        numbers are not part of any transaction)."""
        if self._numbers is None:
            return allocate_seqs(self.connection, count)
        seqs = allocate_seqs(self._numbers, count)
        self._numbers.commit()
        return seqs

    def wait(self) -> None:
        """Return once every batch is written (raising what writing it raised)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.wait()
                write_stay_counts(self.connection, self._durations)
            elif self._pending is not None:
                self._pending.exception()  # the write ends before the transaction is rolled back
        finally:
            if self._executor is not None:
                self._executor.shutdown()
            if self._numbers is not None:
                self._numbers.close()
