"""On SQLite, an import into a file no other connection has open goes through a rollback journal, and
the file is back in WAL mode afterwards; other connections keep working meanwhile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from dealflow.errors import Conflict
from dealflow.services import imports as service
from dealflow.store import frames
from dealflow.store import tables as t
from dealflow.store.engine import make_engine
from dealflow.store.unit_of_work import UnitOfWork
from tests.factories import raw_dump, write_log

from ..conftest import add_importer


def _mode(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.exec_driver_sql("PRAGMA journal_mode").scalar())


def _deals(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(t.deals)).scalar() or 0)


def _watch_writes(monkeypatch: pytest.MonkeyPatch, seen: list[tuple[str, str]], also: Any = None) -> None:
    """Record the journal mode of the importing connection at each bulk write (and run ``also``)."""
    real = frames.write_frame

    def watched(connection: Any, table: Any, frame: Any) -> None:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        seen.append((table.name, str(mode)))
        if also is not None:
            also(table)
        real(connection, table, frame)

    monkeypatch.setattr(frames, "write_frame", watched)


def _log_watched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deals: int, seed: int, also: Any = None
) -> tuple[Path, list[tuple[str, str]]]:
    """A generated event log of ``deals`` deals, and the (table, journal mode) of each bulk write to come."""
    path = tmp_path / "log.csv"
    write_log(path, deals, seed=seed)
    seen: list[tuple[str, str]] = []
    _watch_writes(monkeypatch, seen, also)
    return path, seen


def test_an_import_alone_writes_through_a_rollback_journal_and_returns_to_wal(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    reader = make_engine(str(sqlite_engine.url))
    # A program that opens the file during the import still reads it (what was there before).
    path, seen = _log_watched(tmp_path, monkeypatch, 200, 21, also=lambda table: reads.append(_deals(reader)))
    assert _mode(sqlite_engine) == "wal"
    who = add_importer(sqlite_engine)
    sqlite_engine.dispose()  # no other connection open, as in a fresh `dealflow import`
    with UnitOfWork(sqlite_engine) as uow:
        report = service.import_file(uow=uow, actor_id=who, path=path, fmt="events")
    reader.dispose()
    assert {mode for _, mode in seen} == {"delete"}
    assert reads
    assert set(reads) == {0}
    assert _mode(sqlite_engine) == "wal"
    assert _deals(sqlite_engine) == report.deals_new > 150


def test_an_import_beside_another_connection_stays_in_wal(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, seen = _log_watched(tmp_path, monkeypatch, 100, 22)
    who = add_importer(sqlite_engine)
    other = make_engine(str(sqlite_engine.url))
    with other.connect() as held, UnitOfWork(sqlite_engine) as uow:
        held.execute(select(func.count()).select_from(t.deals)).scalar()
        report = service.import_file(uow=uow, actor_id=who, path=path, fmt="events")
    other.dispose()
    assert seen
    assert {mode for _, mode in seen} == {"wal"}
    assert _deals(sqlite_engine) == report.deals_new > 50


def test_a_failed_import_alone_writes_nothing_and_returns_to_wal(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(table: Any) -> None:
        if table.name == "stage_visits":
            raise Conflict("someone else wrote first")

    path, seen = _log_watched(tmp_path, monkeypatch, 100, 23, also=fail)
    who = add_importer(sqlite_engine)
    with sqlite_engine.connect() as connection:
        before = raw_dump(connection)
    sqlite_engine.dispose()
    with UnitOfWork(sqlite_engine) as uow, pytest.raises(Conflict):
        service.import_file(uow=uow, actor_id=who, path=path, fmt="events")
    assert ("events", "delete") in seen
    assert _mode(sqlite_engine) == "wal"
    with sqlite_engine.connect() as connection:
        assert raw_dump(connection) == before
