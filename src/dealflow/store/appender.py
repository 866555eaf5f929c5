"""Appending the whole histories of many new deals (imports), batch after batch.

Each batch is numbered and its rows worked out in one pass per deal (:mod:`dealflow.store.new_deals`)
on the caller's thread; the rows then go in as :mod:`dealflow.store.background` writes them (on
PostgreSQL with COPY, while the next batch is prepared).
The stays' counts (``stay_durations``, rows every writer shares) are added once, at the end, so
that the import keeps them locked only from then until its commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from dealflow.store import bulk
from dealflow.store.background import BackgroundWrites
from dealflow.store.event_log import allocate_seqs, new_deal_batch, write_new_deals, write_stay_counts
from dealflow.store.new_deals import NewDeal
from dealflow.store.stay_summaries import Durations
from dealflow.store.unit_of_work import UnitOfWork


class NewDealAppender(BackgroundWrites):
    """Appends the histories of new deals batch after batch. Use it in a ``with`` block, and call
    :meth:`wait` before using the connection for anything else."""

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow.connection)
        self.storage = bulk.storage(self.connection)
        self._numbers = uow.engine.connect() if self.background else None  # takes event numbers meanwhile
        self._durations = Durations()

    def append(self, deals: Sequence[NewDeal]) -> int:
        """Number the deals' events, work out their rows and have them written; returns events appended."""
        total = sum(len(deal.steps) for deal in deals)
        if not total:
            return 0
        batch = new_deal_batch(deals, self._seqs(total), self.storage)
        self._durations.update(batch.durations)
        self.submit(write_new_deals, self.connection, batch)
        return total

    def _seqs(self, count: int) -> list[int]:
        """``count`` new event numbers (on PostgreSQL taken on a connection of their own, as event
        numbers are not part of any transaction)."""
        if self._numbers is None:
            return allocate_seqs(self.connection, count)
        seqs = allocate_seqs(self._numbers, count)
        self._numbers.commit()
        return seqs

    def finish(self) -> None:
        """Add the stays' counts once every batch is in."""
        write_stay_counts(self.connection, self._durations)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._numbers is not None:
                self._numbers.close()
