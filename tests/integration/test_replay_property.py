"""Properties of the engine over random command sequences, on both backends.

After any sequence (deals created, worked, moved, handed off, closed, reopened and reassigned,
cadences started and touched, the service-level job run): replaying the log rebuilds every
state table exactly, cadence tasks and breaches included, and no deal ever
entered a stage through a gate it did not pass, unless an override event says so.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete

from dealflow.domain import commands as cmds
from dealflow.domain import events as ev
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.gates import exit_gate
from dealflow.errors import DealflowError
from dealflow.process.loading import load_template
from dealflow.services import cadences as sc
from dealflow.services import deals as sd
from dealflow.services import workspace as ws
from dealflow.services.sla import record_sla_breaches
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.event_log import read_events, rebuild
from dealflow.store.unit_of_work import UnitOfWork
from dealflow.worker.jobs import JOBS
from tests.factories import dump

from ..conftest import Clock, install_team

PROCESS = load_template("standard")[0]
STAGES = [s.key for s in PROCESS.stages]
USERS = ["ada", "ben", "cyd", "max", "cat"]

deal_index = st.integers(min_value=0, max_value=2)
user = st.sampled_from(USERS)
command = st.one_of(
    st.tuples(st.just("create"), user, st.booleans()),
    st.tuples(st.just("activity"), deal_index, user, st.sampled_from(["call", "meeting", "email"])),
    st.tuples(st.just("next_step"), deal_index, user, st.integers(min_value=-2, max_value=5), st.booleans()),
    st.tuples(
        st.just("fields"), deal_index, user, st.sampled_from(["pain", "urgency", "budget", "use_case", "amount"])
    ),
    st.tuples(st.just("qualify"), deal_index, user, st.sampled_from(["budget", "authority", "need", "timeline"])),
    st.tuples(st.just("contact"), deal_index, user, st.sampled_from(["economic_buyer", "champion"])),
    st.tuples(st.just("document"), deal_index, user, st.sampled_from(["proposal", "contract"])),
    st.tuples(st.just("move"), deal_index, user, st.sampled_from(STAGES), st.booleans()),
    st.tuples(st.just("handoff"), deal_index, st.booleans()),
    st.tuples(st.just("close"), deal_index, user, st.sampled_from(["won", "lost", "disqualified"])),
    st.tuples(st.just("reopen"), deal_index, user),
    st.tuples(st.just("reassign"), deal_index, user, user),
    st.tuples(st.just("cadence"), deal_index, user),
    st.tuples(st.just("touch"), deal_index, user, st.sampled_from(["none", "reply", "meeting"])),
    st.tuples(st.just("sla")),
    st.tuples(st.just("wait"), st.integers(min_value=1, max_value=200)),
)
VALUES = {"pain": "Slow quotes", "urgency": "high", "budget": "5000", "use_case": "Quoting", "amount": "42000"}


def _run(step: tuple[Any, ...], uow: UnitOfWork, deals: list[str], clock: Clock, counter: list[int]) -> None:
    kind = step[0]
    if kind == "wait":
        clock.advance(hours=step[1])
        return
    if kind == "sla":  # the worker's job: SlaBreached events for stays and handoffs past their level
        record_sla_breaches(uow.connection.engine, clock.now)
        return
    if kind == "create":
        deal = sd.create_deal(
            uow=uow,
            actor_id=step[1],
            process_key="standard",
            title="Deal",
            fields={"source": "inbound"} if step[2] else {},
        )
        deals.append(deal.id)
        return
    if not deals:
        return
    deal_id = deals[step[1] % len(deals)]
    match step:
        case ("activity", _, actor, activity):
            command: Any = cmds.LogActivity(kind=activity, summary="Talked")
        case ("next_step", _, actor, days, confirmed):
            command = cmds.SetNextStep(
                action="Meet", owner=actor, due=clock.now + timedelta(days=days, hours=1), buyer_confirmed=confirmed
            )
        case ("fields", _, actor, name):
            command = cmds.UpdateFields(fields={name: VALUES[name]})
        case ("qualify", _, actor, element):
            command = cmds.ScoreQualification(framework="bant", element=element)
        case ("contact", _, actor, role):
            counter[0] += 1
            ws.add_contact(uow=uow, actor_id=actor, contact_id=f"c{counter[0]}", name="Pat")
            command = cmds.AttachContact(contact_id=f"c{counter[0]}", role=role)
        case ("document", _, actor, document):
            command = cmds.AttachDocument(document=document, name=f"{document}.pdf")
        case ("move", _, actor, to, override):
            reason = "Manager call" if override else "Going back"
            sd.move_deal(uow=uow, actor_id=actor, deal_id=deal_id, to=to, override=override, reason=reason)
            return
        case ("handoff", _, accept):
            pending = [h for h in queries.list_handoffs(uow.connection) if h.deal_id == deal_id]
            if pending and accept:
                sd.accept_handoff(uow=uow, actor_id=pending[0].to_owner, handoff_id=pending[0].id)
            elif pending:
                sd.return_handoff(uow=uow, actor_id=pending[0].to_owner, handoff_id=pending[0].id, reason="Thin")
            return
        case ("close", _, actor, outcome):
            reason = {"won": "value", "lost": "timing", "disqualified": "no_fit"}[outcome]
            sd.close_deal(uow=uow, actor_id=actor, deal_id=deal_id, outcome=outcome, reason=reason)
            return
        case ("reopen", _, actor):
            sd.reopen_deal(uow=uow, actor_id=actor, deal_id=deal_id, reason="Closed by mistake")
            return
        case ("reassign", _, actor, to):
            sd.reassign_deal(uow=uow, actor_id=actor, deal_id=deal_id, to_owner=to, reason="Territory")
            return
        case ("cadence", _, actor):
            sc.start_cadence(uow=uow, actor_id=actor, subject=f"deal:{deal_id}")
            return
        case ("touch", _, actor, outcome):
            sc.record_touch(uow=uow, actor_id=actor, subject=f"deal:{deal_id}", outcome=outcome)
            return
    sd.capture_evidence(uow=uow, actor_id=step[2], deal_id=deal_id, command=command)


def _reset(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(t.metadata.sorted_tables):
            connection.execute(delete(table))


def _assert_every_entry_passed_its_gate_or_was_overridden(engine: Engine) -> int:
    deals: dict[str, Deal] = {}
    overridden: set[tuple[str, int]] = set()
    moves = 0
    with engine.connect() as connection:
        log = list(read_events(connection))
    for _seq, version, event in log:
        if not event.stream.startswith("deal:"):
            continue
        deal_id = ev.stream_id(event.stream)
        before = deals.get(deal_id)
        if event.type == ev.GATE_OVERRIDDEN:
            overridden.add((deal_id, version + 1))
        if event.type == ev.DEAL_MOVED and event.data["kind"] != "backward" and before and before.status == "open":
            moves += 1
            gate = exit_gate(before, PROCESS, event.data["to"], event.at)
            assert gate.passed or (deal_id, version) in overridden, (deal_id, event.data, gate.unmet)
            assert event.data["override"] == (not gate.passed)
        deals[deal_id] = evolve(before, event)
    return moves


def check_sequence(engine: Engine, clock: Clock, steps: list[tuple[Any, ...]]) -> int:
    """Run the steps (refusals are fine), then check both properties; return the gated moves seen."""
    _reset(engine)
    factory = install_team(lambda: UnitOfWork(engine, clock=clock))
    deals: list[str] = []
    counter = [0]
    for step in [("create", "ada", True), *steps]:
        try:
            with factory() as uow:
                _run(step, uow, deals, clock, counter)
        except DealflowError:
            pass
    assert_rebuild_is_exact(engine)
    return _assert_every_entry_passed_its_gate_or_was_overridden(engine)


def assert_rebuild_is_exact(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Replay the log into every projection and check it is byte for byte what it was; that dump."""
    with engine.connect() as connection:
        before = dump(connection)
    with UnitOfWork(engine) as uow:
        rebuild(uow)
        uow.commit()
    with engine.connect() as connection:
        assert dump(connection) == before
    return before


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(steps=st.lists(command, min_size=1, max_size=40))
def test_replay_rebuilds_exactly_and_gates_always_hold(engine: Engine, steps: list[tuple[Any, ...]]) -> None:
    check_sequence(engine, Clock(), steps)


def test_the_checks_see_gated_and_overridden_moves(engine: Engine) -> None:
    steps: list[tuple[Any, ...]] = [
        ("activity", 0, "ada", "call"),
        ("next_step", 0, "ada", 3, True),
        ("move", 0, "ada", "qualification", False),
        ("move", 0, "max", "discovery", True),
        ("handoff", 0, False),
        ("move", 0, "max", "discovery", True),
        ("handoff", 0, True),
    ]
    assert check_sequence(engine, Clock(), steps) == 3


def test_every_table_replays_exactly_after_cadences_reopenings_and_every_worker_job(engine: Engine) -> None:
    clock = Clock()
    steps: list[tuple[Any, ...]] = [
        ("cadence", 0, "ada"),
        ("touch", 0, "ada", "none"),
        ("wait", 200),  # the next touch's day, the stage's service level and more go by
        ("sla",),
        ("close", 0, "ada", "lost"),
        ("reopen", 0, "max"),
        ("create", "ben", True),
        ("cadence", 1, "ben"),
        ("wait", 100),
    ]
    check_sequence(engine, clock, steps)
    for job in JOBS.values():  # what the worker does between commands is replayed too
        job(engine, clock.now)
    before = assert_rebuild_is_exact(engine)
    assert len(before["reopenings"]) == 1
    assert before["sla_breaches"]
    assert {row["status"] for row in before["cadence_tasks"]} >= {"done", "open", "stopped"}
