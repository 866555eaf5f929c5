"""Imports write new deals in bulk: each deal's rows worked out in one pass, written with COPY or the
driver's executemany. What they write must be what the general path writes:
the same events, stored byte for byte as SQLAlchemy stores them, and projections that replaying the
log rebuilds exactly. Checked on generated event logs with skips, backward moves, amount changes,
wins, losses, disqualifications and bad rows, on both backends."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from dealflow.domain import events as ev
from dealflow.errors import Conflict
from dealflow.imports.generic import read_event_log
from dealflow.imports.history import ImportReport, person_id, slug
from dealflow.imports.recording import BATCH, Target, deal_id, history_events
from dealflow.store import tables as t
from dealflow.store.appender import NewDealAppender
from dealflow.store.event_log import rebuild, record_new_deals
from dealflow.store.new_deals import NewDeal
from dealflow.store.processes import load_process
from dealflow.store.unit_of_work import UnitOfWork
from tests.factories import HEADER, empty, raw_dump, write_event_log

from .conftest import Cli


def test_a_bulk_import_stores_what_the_general_path_stores(workspace: Cli, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    write_event_log(path, BATCH + 700, seed=3)  # more than one batch: one is written while the next is built
    report = workspace.json("import", str(path), "--format", "events")
    assert report["deals_new"] > BATCH  # type: ignore[index]
    assert {"bad_date", "bad_amount"} <= set(report["issue_counts"])  # type: ignore[index]
    with engine.connect() as connection:
        imported = raw_dump(connection)
        exits = set(connection.execute(select(t.stage_visits.c.exit).distinct()).scalars())
        events = [dict(row) for row in connection.execute(select(t.events).order_by(t.events.c.seq)).mappings()]
    assert {"forward", "skip", "backward", "won", "lost", "disqualified"} <= exits

    # The same events written by SQLAlchemy, the projections replayed: byte for byte the same tables.
    empty(engine)
    with UnitOfWork(engine) as uow:
        uow.connection.execute(insert(t.events), events)
        rebuild(uow)
        uow.commit()
    with engine.connect() as connection:
        assert raw_dump(connection) == imported


def test_the_events_are_the_ones_the_histories_tell(workspace: Cli, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    write_event_log(path, 300, seed=5)
    assert workspace("import", str(path)) == 0, workspace.err
    source = read_event_log(path, report=ImportReport(format="events", file=path.name))
    with UnitOfWork(engine) as uow:
        process = load_process(uow.connection, key="imported")
        accounts = {row.name: row.id for row in uow.connection.execute(select(t.accounts))}
        stored: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        query = select(t.events).where(t.events.c.stream.startswith("deal:")).order_by(t.events.c.seq)
        for row in uow.connection.execute(query):
            stored[row.stream].append((row.type, row.at, row.actor, row.data))
    target = Target(
        process, {stage.name: slug(stage.name) for stage in process.stages}, checked=False, importer="founder"
    )
    told = 0
    for history in source.histories:
        stream = ev.deal_stream(deal_id("EV", history.ref))
        found = history_events(
            history,
            target=target,
            stream=stream,
            owner=person_id(history.owner or "import"),
            account_id=accounts.get(history.account or ""),
            fmt="events",
            now=datetime.now(UTC),
            report=ImportReport(format="events", file=path.name),
        )
        assert stored.get(stream, []) == [(e.type, e.at, e.actor, e.data) for e in found or []]
        told += found is not None
    assert told == len(stored) > 200


def _deal_tables(engine: Engine) -> dict[str, Any]:
    """Deal streams and their projections, without what depends on when or in which order they were written."""
    with engine.connect() as connection:
        streams: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        query = select(t.events).where(t.events.c.stream.startswith("deal:")).order_by(t.events.c.seq)
        for row in connection.execute(query):
            streams[row.stream].append((row.version, row.type, row.at, row.actor, row.data))
        deals = sorted(tuple(row) for row in connection.execute(select(t.deals)))
        v = t.stage_visits.c
        visits = sorted(tuple(row) for row in connection.execute(select(*[c for c in v if c.name != "seq"])))
    return {"streams": dict(streams), "deals": deals, "visits": visits}


def test_an_earlier_export_then_the_full_one_equals_importing_the_full_one(
    workspace: Cli, engine: Engine, tmp_path: Path
) -> None:
    rows = write_event_log(tmp_path / "full.csv", BATCH + 700, seed=11, noisy=False)
    cut = rows[len(rows) * 4 // 5][2]  # deals known before the cut reach into the second batch
    earlier = tmp_path / "earlier.csv"
    with earlier.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        # What was there at the cut, less every third deal: known and new deals mix in every batch.
        writer.writerows(row for row in rows if row[2] < cut and int(row[0][1:]) % 3)
    first = workspace.json("import", str(earlier))
    second = workspace.json("import", str(tmp_path / "full.csv"))
    assert second["deals_extended"] > 100  # type: ignore[index]
    assert second["deals_new"] > 100  # type: ignore[index]
    assert "changed_history" not in second["issue_counts"]  # type: ignore[index]
    assert second["deals_unchanged"] + second["deals_extended"] == first["deals_new"]  # type: ignore[index]
    in_two_steps = _deal_tables(engine)

    empty(engine)
    assert workspace("init", "--user", "founder") == 0, workspace.err
    once = workspace.json("import", str(tmp_path / "full.csv"))
    assert once["deals_new"] == second["deals_new"] + first["deals_new"]  # type: ignore[index]
    assert _deal_tables(engine) == in_two_steps


def test_deals_the_one_pass_does_not_cover_go_in_through_evolve(workspace: Cli, engine: Engine) -> None:
    at = datetime(2025, 5, 1, 9, tzinfo=UTC)
    created = {"title": "Acme", "process": "imported", "process_version": 1, "account_id": None, "owner": "ann",
               "stage": "lead", "fields": {"amount": "10.00"}}  # fmt: skip
    activity = {"kind": "call", "summary": "Intro", "at": at.isoformat(), "contact_id": None}
    covered = NewDeal("deal:EV-1", "ann", [(ev.DEAL_CREATED, at, created)])
    other = NewDeal("deal:EV-2", "ann", [(ev.DEAL_CREATED, at, created), (ev.ACTIVITY_LOGGED, at, activity)])
    with UnitOfWork(engine) as uow:
        assert record_new_deals(uow, [covered, other]) == 3
        uow.commit()
    with engine.connect() as connection:
        written = raw_dump(connection)
        assert len(written["activities"]) == 1
        assert len(written["deals"]) == 2
    with UnitOfWork(engine) as uow:
        rebuild(uow)
        uow.commit()
    with engine.connect() as connection:
        assert raw_dump(connection) == written


def _append_in_batches(uow: UnitOfWork, batches: list[list[NewDeal]]) -> None:
    with NewDealAppender(uow) as appender:
        for batch in batches:
            appender.append(batch)


def test_a_bulk_write_that_fails_writes_nothing(workspace: Cli, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    write_event_log(path, 50, seed=7)
    assert workspace("import", str(path)) == 0, workspace.err
    with engine.connect() as connection:
        before = raw_dump(connection)
    at = datetime(2025, 5, 1, 9, tzinfo=UTC)
    created = {"title": "Again", "process": "imported", "process_version": 1, "account_id": None, "owner": "ann",
               "stage": "lead", "fields": {}}  # fmt: skip
    fresh = [NewDeal(f"deal:EV-new-{i}", "ann", [(ev.DEAL_CREATED, at, created)]) for i in range(3)]
    taken = NewDeal("deal:EV-R1", "ann", [(ev.DEAL_CREATED, at, created)])  # EV-R1 is in the workspace
    with UnitOfWork(engine) as uow, pytest.raises(Conflict):
        _append_in_batches(uow, [fresh, [taken]])  # on PostgreSQL the error comes from the background
    with UnitOfWork(engine) as uow, pytest.raises(Conflict):
        record_new_deals(uow, [*fresh, taken])
    with engine.connect() as connection:
        assert raw_dump(connection) == before


def test_a_long_file_whose_dates_change_format_past_the_sample_is_refused(
    workspace: Cli, engine: Engine, tmp_path: Path
) -> None:
    rows = [f"R{i},Lead,2025-01-{1 + i % 28:02d}T10:00:00Z" for i in range(2000)]
    rows[1501] = "R1501,Lead,03/04/2025"  # not among the 500 values the format is guessed from
    rows[1700] = "R1700,Lead,2025-02-30T10:00:00Z"  # no format reads it: reported, not refused
    path = tmp_path / "log.csv"
    path.write_text("deal_id,stage,timestamp\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with engine.connect() as connection:
        before = raw_dump(connection)
    assert workspace("import", str(path)) == 2
    assert "log.csv:1503: column 'timestamp' mixes date formats ('2025-01-01T10:00:00Z' and '03/04/2025')" in (
        workspace.err
    )
    with engine.connect() as connection:
        assert raw_dump(connection) == before
    del rows[1501]
    path.write_text("deal_id,stage,timestamp\n" + "\n".join(rows) + "\n", encoding="utf-8")
    report = workspace.json("import", str(path))
    assert report["issue_counts"] == {"bad_date": 1, "no_stage": 1}  # type: ignore[index]
    assert report["deals_new"] == 1998  # type: ignore[index]
