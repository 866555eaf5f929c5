"""Appending events from a use case: the store appends them and writes the projections; then this
module chooses their effects (the emails and webhook calls of :mod:`dealflow.services.notifications`),
in the same transaction. Every use case records through here; imports write through the store alone
(a history brought in is not news to anyone)."""

from __future__ import annotations

from collections.abc import Sequence

from dealflow.domain.deals import Deal
from dealflow.domain.events import Event
from dealflow.services import notifications
from dealflow.store import event_log
from dealflow.store.unit_of_work import UnitOfWork


def _follow(uow: UnitOfWork, mark: int) -> None:
    """The effects of the events recorded since ``mark``."""
    notifications.enqueue_for_events(uow.connection, uow.recorded[mark:])


def record_deal_events(uow: UnitOfWork, *, deal: Deal | None, found: Sequence[Event]) -> Deal:
    """Append a deal's new events (``deal`` is its state before them), then their effects."""
    mark = len(uow.recorded)
    after = event_log.record_deal_events(uow, deal=deal, found=found)
    _follow(uow, mark)
    return after


def record_events(uow: UnitOfWork, found: Sequence[Event]) -> None:
    """Append events of one non-deal stream, then their effects."""
    mark = len(uow.recorded)
    event_log.record_events(uow, found)
    _follow(uow, mark)
