"""The append-only event log: recording events with their projections, reading them back, replaying."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from dealflow.domain import events as ev
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.events import Event
from dealflow.store import tables as t
from dealflow.store.projections import insert_deals, project_side_tables, visit_row, write_deal, write_visits
from dealflow.store.unit_of_work import UnitOfWork, translate


def _stream_version(connection: Connection, stream: str) -> int:
    found = connection.execute(select(func.max(t.events.c.version)).where(t.events.c.stream == stream))
    return int(found.scalar() or 0)


_INSERT_EVENTS = insert(t.events).returning(t.events.c.seq, sort_by_parameter_order=True)


def _insert_events(connection: Connection, found: Sequence[Event], first_version: int) -> list[int]:
    rows = [
        {
            "stream": e.stream,
            "version": first_version + i,
            "type": e.type,
            "actor": e.actor,
            "at": e.at,
            "data": e.data,
        }
        for i, e in enumerate(found)
    ]
    try:
        result = connection.execute(_INSERT_EVENTS, rows)
        return [row.seq for row in result]
    except DBAPIError as exc:
        raise translate(exc) from None


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
        write_visits(connection, visits)
        for seq, e in zip(seqs, found, strict=True):
            project_side_tables(connection, seq, e)
    except DBAPIError as exc:
        raise translate(exc) from None
    return after


_INSERT_NUMBERED_EVENTS = insert(t.events)


def _allocate_seqs(connection: Connection, count: int) -> list[int]:
    """``count`` new event numbers, so that many rows go in with one executemany (no RETURNING,
    which SQLite can only do one row at a time when the order must be kept)."""
    if connection.dialect.name == "postgresql":
        query = text("SELECT nextval(pg_get_serial_sequence('events', 'seq')) FROM generate_series(1, :n)")
        return [int(v) for v in connection.execute(query, {"n": count}).scalars()]
    # SQLite has one writer at a time; a writer in between makes the insert fail as a Conflict.
    top = int(connection.execute(select(func.max(t.events.c.seq))).scalar() or 0)
    return list(range(top + 1, top + count + 1))


def record_new_deals(uow: UnitOfWork, histories: Sequence[Sequence[Event]]) -> int:
    """Append the whole event history of many new deals at once (imports); returns events written.

    Each item holds one new deal's events, its creation first. Written with one multi-row insert
    per table, so a large import costs a few statements per thousand deals rather than per deal."""
    connection = uow.connection
    total = sum(len(found) for found in histories)
    if not total:
        return 0
    try:
        seqs = iter(_allocate_seqs(connection, total))
        rows = []
        deals: list[Deal] = []
        visits = []
        side: list[tuple[int, Event]] = []
        for found in histories:
            deal: Deal | None = None
            for version, e in enumerate(found, start=1):
                seq = next(seqs)
                rows.append(
                    {
                        "seq": seq,
                        "stream": e.stream,
                        "version": version,
                        "type": e.type,
                        "actor": e.actor,
                        "at": e.at,
                        "data": e.data,
                    }
                )
                after = evolve(deal, e)
                if (visit := visit_row(seq, deal, after, e)) is not None:
                    visits.append(visit)
                if e.type not in ev.DEAL_STATE_ONLY:
                    side.append((seq, e))
                deal = after
            assert deal is not None
            deals.append(deal)
        connection.execute(_INSERT_NUMBERED_EVENTS, rows)
        insert_deals(connection, deals)
        write_visits(connection, visits)
        for seq, e in side:
            project_side_tables(connection, seq, e)
    except DBAPIError as exc:
        raise translate(exc) from None
    return total


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
    for seq, _version, e in read_events(connection):
        project_side_tables(connection, seq, e)
    return count
