"""The append-only event log: recording events with their projections, reading them back, replaying."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from dealflow.domain import events as ev
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.events import Event
from dealflow.store import bulk, driver_rows
from dealflow.store import stay_summaries as summaries
from dealflow.store import tables as t
from dealflow.store.new_deals import DEAL_COLUMNS, EVENT_COLUMNS, VISIT_COLUMNS, NewDeal, event_rows, new_deal_rows
from dealflow.store.projections import (
    insert_deals,
    project_side_tables,
    project_side_tables_in_bulk,
    visit_row,
    write_deal,
    write_visits,
)
from dealflow.store.unit_of_work import UnitOfWork, translate


def _stream_version(connection: Connection, stream: str) -> int:
    found = connection.execute(select(func.max(t.events.c.version)).where(t.events.c.stream == stream))
    return int(found.scalar() or 0)


_INSERT_EVENTS = insert(t.events).returning(t.events.c.seq, sort_by_parameter_order=True)
_EVENT_COLUMNS = ("stream", "version", "type", "actor", "at", "data")
_SQLITE_EVENT = driver_rows.insert_sql(t.events, _EVENT_COLUMNS)


def _insert_events(connection: Connection, found: Sequence[Event], first_version: int) -> list[int]:
    """Append ``found`` to their stream from ``first_version`` on; their event numbers. On SQLite each
    goes straight to the driver (its number is the row id), a live command's largest saving there."""
    if connection.dialect.name == "sqlite":
        dialect = connection.dialect
        statements = [
            (_SQLITE_EVENT, driver_rows.bound(dialect, t.events, _EVENT_COLUMNS, _event_row(e, first_version + i)))
            for i, e in enumerate(found)
        ]
        try:
            return [int(seq or 0) for seq in driver_rows.run(connection, statements)]
        except DBAPIError as exc:
            raise translate(exc) from None
    rows = [_event_row(e, first_version + i) for i, e in enumerate(found)]
    try:
        result = connection.execute(_INSERT_EVENTS, rows)
        return [row.seq for row in result]
    except DBAPIError as exc:
        raise translate(exc) from None


def _event_row(e: Event, version: int) -> dict[str, object]:
    return {"stream": e.stream, "version": version, "type": e.type, "actor": e.actor, "at": e.at, "data": e.data}


def record_deal_events(uow: UnitOfWork, *, deal: Deal | None, found: Sequence[Event]) -> Deal:
    """Append a deal's new events and update its projections; ``deal`` is its state before them."""
    if not found:
        raise ValueError("no events to record")
    connection = uow.connection
    before = deal.version if deal else 0
    seqs = _insert_events(connection, found, before + 1)
    after = deal
    visits = []
    for seq, e in zip(seqs, found, strict=True):
        state = evolve(after, e)
        if (visit := visit_row(seq, after, state, e)) is not None:
            visits.append(visit)
        after = state
    assert after is not None
    try:
        write_deal(connection, after, before=deal)
        summaries.write_stays(connection, before=deal, after=after, visits=visits)
        for seq, e in zip(seqs, found, strict=True):
            project_side_tables(connection, seq, e)
    except DBAPIError as exc:
        raise translate(exc) from None
    uow.recorded += zip(seqs, found, strict=True)
    return after


def allocate_seqs(connection: Connection, count: int, *, block: bool = False) -> list[int]:
    """``count`` new event numbers, so that many rows go in at once (no RETURNING, which SQLite
    can only do one row at a time when the order must be kept).

    ``block``: on PostgreSQL, take them as one run of numbers, with the sequence locked against
    every other transaction until this one ends (for a first import, which locks the tables it
    writes anyway), instead of one ``nextval`` each."""
    if connection.dialect.name == "postgresql":
        if block and count > 1:
            sequence = connection.exec_driver_sql("SELECT pg_get_serial_sequence('events', 'seq')").scalar_one()
            # ALTER SEQUENCE (here changing nothing) holds back every other nextval until commit.
            connection.exec_driver_sql(f"ALTER SEQUENCE {sequence} INCREMENT BY 1")
            first = int(connection.execute(text("SELECT nextval(:s)"), {"s": sequence}).scalar_one())
            connection.execute(text("SELECT setval(:s, :last)"), {"s": sequence, "last": first + count - 1})
            return list(range(first, first + count))
        query = text("SELECT array_agg(nextval(pg_get_serial_sequence('events', 'seq'))) FROM generate_series(1, :n)")
        return sorted(connection.execute(query, {"n": count}).scalar_one())
    # SQLite has one writer at a time; a writer in between makes the insert fail as a Conflict.
    top = int(connection.execute(select(func.max(t.events.c.seq))).scalar() or 0)
    return list(range(top + 1, top + count + 1))


@dataclass
class NewDealBatch:
    """The rows of a batch of new deals, ready to write."""

    events: list[tuple[object, ...]] = field(default_factory=list)
    deals: list[tuple[object, ...]] = field(default_factory=list)
    visits: list[tuple[object, ...]] = field(default_factory=list)
    others: list[Deal] = field(default_factory=list)  # deals the one pass does not cover, evolved
    other_visits: list[dict[str, object]] = field(default_factory=list)
    side: list[tuple[int, Event]] = field(default_factory=list)
    journeys: list[tuple[object, ...]] = field(default_factory=list)
    durations: summaries.Durations = field(default_factory=summaries.Durations)


def new_deal_batch(deals: Sequence[NewDeal], seqs: Sequence[int], storage: bulk.Storage) -> NewDealBatch:
    """The rows of new deals whose events are numbered ``seqs`` in order, in ``storage`` form."""
    batch = NewDealBatch()
    start = 0
    for deal in deals:
        numbers = seqs[start : start + len(deal.steps)]
        start += len(deal.steps)
        projected = new_deal_rows(deal, numbers, storage)
        if projected is not None:
            batch.events += projected.events
            batch.deals.append(projected.deal)
            batch.visits += projected.visits
            _summarise(batch, projected.deal, projected.visits)
            continue
        batch.events += event_rows(deal, numbers, storage)
        found = deal.events()
        visits: list[dict[str, object]] = []
        batch.others.append(_evolved(found, numbers, visits))
        batch.other_visits += visits
        batch.journeys += summaries.journeys_of(batch.others[-1:], visits)
        batch.durations.update(summaries.durations_of(visits))
        batch.side += [(seq, e) for seq, e in zip(numbers, found, strict=True) if e.type not in ev.DEAL_STATE_ONLY]
    return batch


_DEAL = {name: i for i, name in enumerate(DEAL_COLUMNS)}
_VISIT = {name: i for i, name in enumerate(VISIT_COLUMNS)}


def _summarise(batch: NewDealBatch, deal: tuple[object, ...], visits: list[tuple[object, ...]]) -> None:
    """Add a new deal's journey and stay counts, from its rows, to the batch."""
    at_stage, at_exit = _VISIT["stage"], _VISIT["exit"]
    stays = [(str(v[at_stage]), str(v[at_exit])) for v in visits]
    deal_id, process, status, stage = (str(deal[_DEAL[name]]) for name in ("id", "process", "status", "stage"))
    batch.journeys.append(summaries.journey_row(deal_id, process, status, stage, stays))
    keys = (_VISIT["process"], _VISIT["stage"], _VISIT["exit"], _VISIT["overridden"], _VISIT["seconds"])
    summaries.count_durations(batch.durations, (tuple(v[i] for i in keys) for v in visits))  # type: ignore[misc]


def write_new_deals(connection: Connection, batch: NewDealBatch) -> None:
    """Write a batch of new deals with one bulk write per table."""
    try:
        bulk.write_rows(connection, t.events, EVENT_COLUMNS, batch.events)
        bulk.write_rows(connection, t.deals, DEAL_COLUMNS, batch.deals)
        insert_deals(connection, batch.others)
        bulk.write_rows(connection, t.stage_visits, VISIT_COLUMNS, batch.visits)
        write_visits(connection, batch.other_visits)
        bulk.write_rows(connection, t.deal_journeys, summaries.JOURNEY_COLUMNS, batch.journeys)
        for seq, e in batch.side:
            project_side_tables(connection, seq, e)
    except DBAPIError as exc:
        raise translate(exc) from None


def write_stay_counts(connection: Connection, counts: summaries.Durations) -> None:
    """Add the stay counts of new deals (kept for the end of an import: the count rows are shared
    by every writer, and a row written stays locked until the commit)."""
    try:
        summaries.write_durations(connection, counts)
    except DBAPIError as exc:
        raise translate(exc) from None


def record_new_deals(uow: UnitOfWork, deals: Sequence[NewDeal]) -> int:
    """Append the whole history of many new deals at once (imports); returns events written.

    Each deal's rows are worked out in one pass (see :mod:`dealflow.store.new_deals`) and go in
    with one bulk write per table (see :mod:`dealflow.store.bulk`): a large import costs a few
    statements per thousand deals and no model per event."""
    total = sum(len(deal.steps) for deal in deals)
    if total:
        seqs = allocate_seqs(uow.connection, total)
        batch = new_deal_batch(deals, seqs, bulk.storage(uow.connection))
        write_new_deals(uow.connection, batch)
        write_stay_counts(uow.connection, batch.durations)
    return total


def _evolved(found: Sequence[Event], seqs: Sequence[int], visits: list[dict[str, object]]) -> Deal:
    """A new deal evolved event by event, adding its finished stays to ``visits``."""
    deal: Deal | None = None
    for seq, e in zip(seqs, found, strict=True):
        after = evolve(deal, e)
        if (visit := visit_row(seq, deal, after, e)) is not None:
            visits.append(visit)
        deal = after
    assert deal is not None
    return deal


def record_first_events(uow: UnitOfWork, found: Sequence[Event]) -> None:
    """Append the first event of each of many new streams (the users and accounts an import adds),
    with their projections, in a few statements."""
    if not found:
        return
    connection = uow.connection
    if len({e.stream for e in found}) != len(found):
        raise ValueError("record_first_events takes one event per stream")
    storage = bulk.storage(connection)
    try:
        seqs = allocate_seqs(connection, len(found))
        rows = [
            (seq, e.stream, 1, e.type, e.actor, storage.stamp(e.at), storage.json(e.data))
            for seq, e in zip(seqs, found, strict=True)
        ]
        bulk.write_rows(connection, t.events, EVENT_COLUMNS, rows)
        project_side_tables_in_bulk(connection, list(zip(seqs, found, strict=True)))
    except DBAPIError as exc:
        raise translate(exc) from None


def record_events(uow: UnitOfWork, found: Sequence[Event]) -> None:
    """Append events of one non-deal stream (users, accounts, processes...) with their projections."""
    if not found:
        return
    connection = uow.connection
    streams = {e.stream for e in found}
    if len(streams) != 1:
        raise ValueError("record_events takes the events of one stream")
    seqs = _insert_events(connection, found, _stream_version(connection, streams.pop()) + 1)
    try:
        for seq, e in zip(seqs, found, strict=True):
            project_side_tables(connection, seq, e)
    except DBAPIError as exc:
        raise translate(exc) from None
    uow.recorded += zip(seqs, found, strict=True)


def _to_event(row: Row[Any]) -> Event:
    return Event(type=row.type, stream=row.stream, at=row.at, actor=row.actor, data=row.data)


def read_events(
    connection: Connection, *, stream: str | None = None, batch: int = 2000
) -> Iterator[tuple[int, int, Event]]:
    """Every event (or one stream's) in the order it was recorded, as (seq, version, event)."""
    query = select(t.events).order_by(t.events.c.seq)
    if stream is not None:
        query = query.where(t.events.c.stream == stream)
    last = 0
    while True:
        rows = connection.execute(query.where(t.events.c.seq > last).limit(batch)).all()
        for row in rows:
            yield row.seq, row.version, _to_event(row)
        if len(rows) < batch:
            return
        last = rows[-1].seq


def load_deal_from_events(connection: Connection, deal_id: str) -> Deal | None:
    """A deal rebuilt from its own events alone (the projection is not read)."""
    deal: Deal | None = None
    for _seq, _version, e in read_events(connection, stream=ev.deal_stream(deal_id)):
        deal = evolve(deal, e)
    return deal


def rebuild(uow: UnitOfWork) -> int:
    """Empty every projection and replay the whole log into it; returns the number of events."""
    connection = uow.connection
    for table in reversed(t.PROJECTIONS):
        connection.execute(delete(table))
    deals: dict[str, Deal] = {}
    visits = []
    count = 0
    for seq, _version, e in read_events(connection):
        count += 1
        if e.stream.startswith("deal:"):
            deal_id = ev.stream_id(e.stream)
            before = deals.get(deal_id)
            deals[deal_id] = evolve(before, e)
            if (visit := visit_row(seq, before, deals[deal_id], e)) is not None:
                visits.append(visit)
    insert_deals(connection, list(deals.values()))
    write_visits(connection, visits)
    summaries.insert_journeys(connection, summaries.journeys_of(deals.values(), visits))
    summaries.write_durations(connection, summaries.durations_of(visits))
    for seq, _version, e in read_events(connection):
        project_side_tables(connection, seq, e)
    return count
