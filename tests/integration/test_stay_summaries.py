"""The summaries of the stays (``deal_journeys``, ``stay_durations``) and the all-time metrics read
from them, on both backends: a run over all time gives exactly what the general path (every stay,
every deal read and grouped in SQL) gives, and the migration that adds the summaries fills them with
what the writers write."""

from __future__ import annotations

import importlib
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.exc import IntegrityError

from dealflow.analytics.metrics import compute_metrics
from dealflow.analytics.scope import Scope
from dealflow.store import queries
from dealflow.store import stay_summaries as summaries
from dealflow.store import tables as t
from dealflow.store.event_log import rebuild
from dealflow.store.unit_of_work import UnitOfWork
from tests.factories import dump, write_event_log

from .conftest import Cli
from .test_metrics import History, build_history

SUMMARIES = (t.deal_journeys, t.stay_durations)


def _runs(connection: Connection, now: datetime, process: str | None) -> list[dict[str, Any]]:
    """Every all-time run the summaries answer: unsliced, and the totals of each sliced run."""
    found = []
    for by in (None, "owner", "stage", "segment"):
        run = compute_metrics(
            connection, process=process, period=None, slice_by=by, filters={}, now=now, target=None
        ).as_json()
        found.append(run)
    return found


def _general(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every scope take the general path (every stay and deal grouped in SQL)."""
    monkeypatch.setattr(Scope, "whole", property(lambda self: False))


def _same_runs(engine: Engine, now: datetime, process: str | None, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with engine.connect() as connection:
        fast = _runs(connection, now, process)
    with monkeypatch.context() as patch:
        _general(patch)
        with engine.connect() as connection:
            general = _runs(connection, now, process)
    for one, other in zip(fast, general, strict=True):
        # A sum of floats depends on the order of the rows added (already between runs on PostgreSQL,
        # whose parallel workers add in any order): the mean cycle is equal to the last digits.
        assert one.pop("cycle_days_mean") == pytest.approx(other.pop("cycle_days_mean"), rel=1e-12)
        assert one == other
    return fast


def test_all_time_metrics_from_the_summaries_equal_the_general_path(
    history: History, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _same_runs(engine, history.clock.now, "metered", monkeypatch)
    whole = runs[0]
    assert whole["deals_won"] == 2
    assert any(s["median_days"] for s in whole["time_in_stage"])
    assert whole["sla_breaches"] >= 1
    assert sum(s["entered"] for s in whole["stage_conversion"]) > 0


@pytest.fixture
def history(team: Any, clock: Any) -> History:
    return build_history(team, clock)


@pytest.fixture
def imported(workspace: Cli, tmp_path: Path) -> Cli:
    """A workspace with 1,200 imported deals: skips, backward moves, wins, losses, open deals."""
    path = tmp_path / "log.csv"
    write_event_log(path, 1_200, seed=11, noisy=False)
    assert workspace("import", str(path), "--format", "events") == 0, workspace.err
    return workspace


def test_all_time_metrics_of_an_imported_history_equal_the_general_path(
    imported: Cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    whole = _same_runs(engine, now, "imported", monkeypatch)[0]
    assert whole["deals_won"] > 100
    assert whole["deals_open"] > 100
    assert whole["moves"]["backward"] > 0
    assert whole["moves"]["skips"] > 0


def test_the_migration_fills_the_summaries_as_the_writers_do(imported: Cli, engine: Engine) -> None:
    with engine.connect() as connection:
        written = dump(connection)
    assert len(written["deal_journeys"]) == len(written["deals"])
    assert sum(row["stays"] for row in written["stay_durations"]) == len(written["stage_visits"])
    migration = importlib.import_module("dealflow.store.migrations.versions.2026_11_30_stay_summaries")
    fills = [migration._fill_row_by_row]
    if engine.dialect.name == "postgresql":
        fills.append(
            lambda c: [c.exec_driver_sql(sql) for sql in (migration._FILL_JOURNEYS, migration._FILL_DURATIONS)]
        )
    for fill in fills:
        with engine.begin() as connection:
            for table in SUMMARIES:
                connection.execute(delete(table))
            fill(connection)
        with engine.connect() as connection:
            assert dump(connection) == written


def test_live_commands_keep_the_summaries_as_a_rebuild_writes_them(history: History, engine: Engine) -> None:
    with engine.connect() as connection:
        before = dump(connection)
        journeys = {row.deal_id: row for row in connection.execute(select(t.deal_journeys))}
    # D-1 went through every sales stage and was won; D-2 was disqualified in its first stage; D-3
    # was sent back, moved backward once and won.
    every = "|prospecting|qualification|discovery|presentation|objection_handling|closing|"
    assert (journeys["D-1"].stayed, journeys["D-1"].onward, journeys["D-1"].status) == (every, every, "won")
    assert journeys["D-1"].open_stage is None
    assert (journeys["D-2"].stayed, journeys["D-2"].onward, journeys["D-2"].status) == (
        "|prospecting|",
        "|",
        "disqualified",
    )
    assert (journeys["D-3"].stayed, journeys["D-3"].onward) == (every, every)
    open_deal = next(row for row in journeys.values() if row.status == "open" and row.stayed != "|")
    assert open_deal.open_stage is not None
    with UnitOfWork(engine) as uow:
        rebuild(uow)
        uow.commit()
    with engine.connect() as connection:
        assert dump(connection) == before


def test_a_stay_the_database_refuses_fails_as_any_statement_does(history: History, engine: Engine) -> None:
    with engine.connect() as connection:
        deal = queries.get_deal(connection, deal_id="D-3")
        assert deal is not None
        stay = connection.execute(select(t.stage_visits).where(t.stage_visits.c.deal_id == "D-3")).mappings().first()
        assert stay is not None
        with pytest.raises(IntegrityError):  # the same stay again: what the services translate
            summaries.write_stays(connection, before=deal, after=deal, visits=[dict(stay)])


@given(st.floats(min_value=-1e9, max_value=1e12, allow_nan=False))
def test_a_stay_counts_in_the_hour_whose_range_holds_it(seconds: float) -> None:
    hour = summaries.hour_of(seconds)
    start = summaries.hour_start(hour)
    if seconds < 0:
        assert (hour, start) == (-1, None)
        return
    assert start is not None
    assert start <= seconds < summaries.HOUR * (hour + 1)


def test_hours_at_their_edges() -> None:
    edge = summaries.HOUR * 7
    assert summaries.hour_of(edge) == 7
    assert summaries.hour_of(math.nextafter(edge, 0)) == 6
    assert summaries.hour_of(0.0) == 0
    assert summaries.hour_of(-0.5) == -1
    assert summaries.stage_sets([("a", "forward"), ("b", "backward"), ("a", "lost"), ("c", "skip")]) == (
        "|a|b|c|",
        "|a|c|",
    )
    assert summaries.stages_in("|") == []
