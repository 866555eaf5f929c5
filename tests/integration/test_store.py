"""The event log and its projections, on SQLite and PostgreSQL: atomic, replayable, conflict-safe."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from dealflow.domain import commands as cmds
from dealflow.domain.moves import move_deal as decide_move
from dealflow.errors import Conflict, GateRefused, InvalidInput, NotFound
from dealflow.process.loading import load_template
from dealflow.services import deals as sd
from dealflow.services import workspace as ws
from dealflow.services.lookups import load_actor
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.event_log import load_deal_from_events, rebuild, record_deal_events
from dealflow.store.unit_of_work import UnitOfWork
from tests.factories import dump

from ..conftest import Clock, install_team, truncate

Factory = Callable[[], UnitOfWork]
PROCESS = load_template("standard")[0]


def event_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(t.events)).scalar() or 0)


def ready_deal(team: Factory, clock: Clock) -> str:
    """A deal in prospecting whose gate to qualification passes."""
    with team() as uow:
        deal = sd.create_deal(
            uow=uow, actor_id="ada", process_key="standard", title="Acme", fields={"source": "inbound"}
        )
    with team() as uow:
        sd.capture_evidence(
            uow=uow, actor_id="ada", deal_id=deal.id, command=cmds.LogActivity(kind="call", summary="Hi")
        )
    step = cmds.SetNextStep(action="Qualify", owner="ada", due=clock.now + timedelta(days=2))
    with team() as uow:
        sd.capture_evidence(uow=uow, actor_id="ada", deal_id=deal.id, command=step)
    return deal.id


def test_a_command_writes_its_events_and_projections_together(team: Factory, clock: Clock, engine: Engine) -> None:
    deal_id = ready_deal(team, clock)
    with team() as uow:
        deal = sd.move_deal(uow=uow, actor_id="ada", deal_id=deal_id, to="qualification")
    assert deal.stage == "qualification"
    with engine.connect() as connection:
        stored = queries.get_deal(connection, deal_id=deal_id)
        replayed = load_deal_from_events(connection, deal_id)
        row = connection.execute(select(t.deals.c.stage, t.deals.c.version).where(t.deals.c.id == deal_id)).one()
    assert stored == replayed == deal
    assert (row.stage, row.version) == ("qualification", 4)


def test_a_refused_or_invalid_command_writes_nothing(team: Factory, engine: Engine) -> None:
    with team() as uow:
        deal = sd.create_deal(uow=uow, actor_id="ada", process_key="standard", title="Acme")
    before = event_count(engine)
    with team() as uow, pytest.raises(GateRefused) as caught:
        sd.move_deal(uow=uow, actor_id="ada", deal_id=deal.id, to="qualification")
    assert caught.value.reasons == [
        "Lead source not captured",
        "No conversation logged yet (log at least one call) (0 so far)",
        "No qualification call scheduled (none set)",
    ]
    with team() as uow, pytest.raises(InvalidInput):
        sd.close_deal(
            uow=uow, actor_id="ada", deal_id=deal.id, outcome="lost", reason="timing", fields={"amount": "-1"}
        )
    with team() as uow, pytest.raises(NotFound, match="no deal 'D-404'"):
        sd.move_deal(uow=uow, actor_id="ada", deal_id="D-404", to="qualification")
    assert event_count(engine) == before


def test_rebuild_reproduces_the_state_tables_exactly(team: Factory, clock: Clock, engine: Engine) -> None:
    deal_id = ready_deal(team, clock)
    with team() as uow:
        sd.move_deal(uow=uow, actor_id="ada", deal_id=deal_id, to="qualification")
    with team() as uow:
        sd.move_deal(uow=uow, actor_id="max", deal_id=deal_id, to="discovery", override=True, reason="Referral")
    with team() as uow:
        handoff = queries.list_handoffs(uow.connection)[0]
        sd.return_handoff(uow=uow, actor_id=handoff.to_owner, handoff_id=handoff.id, reason="No pain captured")
    with team() as uow:  # a user's change is an event too, replayed like the rest
        ws.change_user(uow=uow, user_id="ada", changes={"roles": ["ae"], "team": "west"})
    with engine.connect() as connection:
        before = dump(connection)
    with UnitOfWork(engine) as uow:
        assert rebuild(uow) == event_count(engine)
        uow.commit()
    with engine.connect() as connection:
        after = dump(connection)
    assert after == before
    assert before["handoffs"][0]["status"] == "returned"
    assert before["deals"][0]["stage"] == "qualification"
    assert {(u["id"], u["team"]) for u in before["users"]} >= {("ada", "west")}


def test_two_changes_to_one_deal_from_the_same_version_one_wins(team: Factory, clock: Clock, engine: Engine) -> None:
    deal_id = ready_deal(team, clock)
    first, second = UnitOfWork(engine, clock=clock), UnitOfWork(engine, clock=clock)
    with first, second:
        actor = load_actor(first.connection, user_id="ada")
        seen_first = queries.get_deal(first.connection, deal_id=deal_id)
        seen_second = queries.get_deal(second.connection, deal_id=deal_id)
        assert seen_first is not None
        assert seen_second is not None
        forward = decide_move(
            seen_first, cmds.MoveDeal(to="qualification"), process=PROCESS, actor=actor, now=clock.now
        )
        assert isinstance(forward, list)
        record_deal_events(first, deal=seen_first, found=forward)
        first.commit()
        with pytest.raises(Conflict, match="someone else"):
            record_deal_events(second, deal=seen_second, found=forward)
    with engine.connect() as connection:
        stored = queries.get_deal(connection, deal_id=deal_id)
        assert stored == load_deal_from_events(connection, deal_id)
    assert stored is not None
    assert (stored.stage, stored.version) == ("qualification", 4)


@pytest.mark.postgres
def test_concurrent_transactions_on_postgres_one_wins_the_other_conflicts(
    postgres_engine: Engine, clock: Clock
) -> None:
    engine = postgres_engine
    truncate(engine)
    deal_id = ready_deal(install_team(lambda: UnitOfWork(engine, clock=clock)), clock)
    outcome: dict[str, BaseException | None] = {}
    first = UnitOfWork(engine, clock=clock)
    with first:
        actor = load_actor(first.connection, user_id="ada")
        seen = queries.get_deal(first.connection, deal_id=deal_id)
        assert seen is not None
        forward = decide_move(seen, cmds.MoveDeal(to="qualification"), process=PROCESS, actor=actor, now=clock.now)
        assert isinstance(forward, list)
        record_deal_events(first, deal=seen, found=forward)

        def second_writer() -> None:
            try:
                with UnitOfWork(engine, clock=clock) as second:
                    record_deal_events(second, deal=seen, found=forward)
                    second.commit()
                outcome["error"] = None
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second writer must wait for the first transaction"
        first.commit()
    thread.join(timeout=10)
    assert isinstance(outcome["error"], Conflict)
    with engine.connect() as connection:
        versions = (
            connection.execute(
                select(t.events.c.version).where(t.events.c.stream == f"deal:{deal_id}").order_by(t.events.c.version)
            )
            .scalars()
            .all()
        )
    assert versions == [1, 2, 3, 4]
