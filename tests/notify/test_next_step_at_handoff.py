"""Evidence is scoped to the stage, and a handoff hands over the next step: a next step the SDR set
in Qualification does not meet Discovery's exit criterion, it passes to the AE who accepts the
deal (or is cleared, when the process says so), and it leaves the SDR's digest."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from dealflow.process.loading import load_template
from dealflow.services import deals as sd
from dealflow.services import workspace as ws
from dealflow.services.lookups import load_deal
from dealflow.services.reminders import due_next_steps
from dealflow.store import tables as t

from ..conftest import Clock
from .deal_steps import Factory, accept, create, hand_over, next_step


def test_the_sdrs_next_step_passes_to_the_ae_and_no_longer_counts_for_discovery(
    people: Factory, engine: Engine, clock: Clock
) -> None:
    deal_id = create(people, "Acme")  # ada's, an SDR, in qualification
    next_step(people, deal_id, "ada", clock.now + timedelta(hours=5), "Book the discovery call")
    assert [r.deal_id for r in due_next_steps(engine, clock.now)["ada"]] == [deal_id]
    clock.advance(hours=1)
    accept(people, hand_over(people, deal_id, to="ben"))
    with people() as uow:
        deal = load_deal(uow.connection, deal_id=deal_id)
        stored = uow.connection.execute(select(t.next_steps.c.owner).where(t.next_steps.c.deal_id == deal_id)).one()
        _, _, gate = sd.check_gate(uow=uow, deal_id=deal_id)
    assert deal.owner == "ben"
    assert deal.next_step is not None
    assert deal.next_step.owner == "ben"
    assert stored.owner == "ben"
    due = due_next_steps(engine, clock.now)
    assert "ada" not in due  # the SDR's digest no longer lists it
    assert [r.deal_id for r in due["ben"]] == [deal_id]
    assert gate is not None
    step = next(u for u in gate.unmet if u.kind == "next_step")
    assert "before this stage" in step.detail


def test_a_stage_can_ask_the_receiver_to_set_their_own_next_step(people: Factory, engine: Engine, clock: Clock) -> None:
    source = (
        load_template("standard")[1]
        .replace("version: 1", "version: 2")
        .replace(
            "      context: [pain, use_case, urgency, budget, contacts, next_step, qualification]\n      sla: 1d\n",
            "      context: [pain, use_case, urgency, budget, contacts, next_step, qualification]\n      sla: 1d\n"
            "      next_step: reset\n",
        )
    )
    with people() as uow:
        process = ws.install_process(uow=uow, source=source, name="standard.yaml")
    assert process.stage("discovery").handoff.next_step == "reset"  # type: ignore[union-attr]
    deal_id = create(people, "Acme")
    next_step(people, deal_id, "ada", clock.now + timedelta(hours=5))
    accept(people, hand_over(people, deal_id, to="ben"))
    with people() as uow:
        deal = load_deal(uow.connection, deal_id=deal_id)
        rows = uow.connection.execute(select(t.next_steps).where(t.next_steps.c.deal_id == deal_id)).all()
    assert deal.next_step is None
    assert rows == []
    assert due_next_steps(engine, clock.now) == {}
