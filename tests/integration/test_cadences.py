"""Cadences on leads and deals: started, touched, stopped, following their owner, rebuilt from the log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from dealflow.domain import commands as cmds
from dealflow.domain import events as ev
from dealflow.domain.decisions import Actor, event
from dealflow.errors import Refused
from dealflow.process.loading import load_template
from dealflow.services import cadences as sc
from dealflow.services import deals as sd
from dealflow.services import leads as sl
from dealflow.services import workspace as ws
from dealflow.store import cadence_tasks as tasks
from dealflow.store import tables as t
from dealflow.store.event_log import rebuild, record_events
from dealflow.store.unit_of_work import UnitOfWork

from ..conftest import Clock

Uow = Callable[[], UnitOfWork]


def _rows(engine: Engine, subject: str) -> list[Any]:
    c = t.cadence_tasks.c
    query = select(c.step, c.status, c.owner, c.due_on, c.outcome, c.stop_reason).where(c.subject == subject)
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(query.order_by(c.run, c.step))]


def _lead(team: Uow, owner: str = "ada") -> str:
    with team() as uow:
        return sl.capture_lead(uow=uow, actor_id=owner, name="Jane Roe", company="Acme")


def test_a_captured_lead_gets_the_lead_cadence_with_its_first_touch_due_today(
    team: Uow, engine: Engine, clock: Clock
) -> None:
    lead_id = _lead(team)
    rows = _rows(engine, f"lead:{lead_id}")
    process = load_template("standard")[0]
    assert len(rows) == len(process.leads.cadence.touches) >= 5
    today = clock.now.date()
    assert [r[3] for r in rows] == [today + timedelta(days=x.day) for x in process.leads.cadence.touches]
    assert [r[1] for r in rows] == ["open"] + ["planned"] * (len(rows) - 1)
    assert {r[2] for r in rows} == {"ada"}
    with engine.connect() as connection:
        due = tasks.due_tasks(connection, owner="ada", today=today)
    assert [(d.subject, d.step) for d in due] == [(f"lead:{lead_id}", 1)]


def test_touches_go_in_order_and_a_reply_stops_the_cadence(team: Uow, engine: Engine, clock: Clock) -> None:
    lead_id = _lead(team)
    subject = f"lead:{lead_id}"
    with team() as uow:
        done = sc.record_touch(uow=uow, actor_id="ada", subject=subject)
    assert (done.step, done.outcome, done.stopped) == (1, "none", None)
    clock.advance(days=3)
    with team() as uow:
        done = sc.record_touch(uow=uow, actor_id="ada", subject=subject, outcome="reply", note="Call me Tuesday")
    assert (done.step, done.stopped) == (2, "reply")
    statuses = [(r[0], r[1], r[4], r[5]) for r in _rows(engine, subject)]
    assert statuses[:3] == [(1, "done", "none", None), (2, "done", "reply", None), (3, "stopped", None, "reply")]
    assert {s[1] for s in statuses[2:]} == {"stopped"}
    with team() as uow, pytest.raises(Refused, match="has no cadence running"):
        sc.record_touch(uow=uow, actor_id="ada", subject=subject)
    with engine.connect() as connection:
        kinds = [r.type for r in connection.execute(select(t.events.c.type).where(t.events.c.stream == subject))]
    started = [ev.LEAD_CREATED, ev.LEAD_SCORED, ev.CADENCE_STARTED]  # scored, then followed up, at capture
    assert kinds == [*started, ev.TOUCH_DONE, ev.TOUCH_DONE, ev.CADENCE_STOPPED]


def test_a_bad_outcome_or_a_huge_note_is_refused_and_nothing_is_written(team: Uow, engine: Engine) -> None:
    lead_id = _lead(team)
    subject = f"lead:{lead_id}"
    with team() as uow, pytest.raises(Exception, match="outcome: must be one of none, reply, meeting"):
        sc.record_touch(uow=uow, actor_id="ada", subject=subject, outcome="maybe")
    with team() as uow, pytest.raises(Exception, match="note: too long"):
        sc.record_touch(uow=uow, actor_id="ada", subject=subject, note="x" * 5000)
    assert _rows(engine, subject)[0][1] == "open"


def test_lead_tasks_follow_the_owner_and_stop_when_the_lead_is_converted(team: Uow, engine: Engine) -> None:
    lead_id = _lead(team)
    subject = f"lead:{lead_id}"
    with team() as uow:
        sc.record_touch(uow=uow, actor_id="ada", subject=subject)
    with team() as uow:
        actor = Actor(id="max", roles=("manager",))
        assigned = event(ev.LEAD_ASSIGNED, subject, actor, uow.clock(), owner="ben", previous_owner="ada")
        record_events(uow, [assigned])
        uow.commit()
    rows = _rows(engine, subject)
    assert [r[2] for r in rows] == ["ada"] + ["ben"] * (len(rows) - 1)  # a done touch keeps who did it
    with team() as uow:
        sl.convert(
            uow=uow, actor_id="max", lead_id=lead_id, process_key="standard", override=True, reason="Met at a fair"
        )
    assert {(r[1], r[5]) for r in _rows(engine, subject)[1:]} == {("stopped", "converted")}


def test_a_deal_cadence_starts_on_request_once_and_stops_when_the_deal_closes(team: Uow, engine: Engine) -> None:
    with team() as uow:
        deal = sd.create_deal(uow=uow, actor_id="ben", process_key="standard", title="Acme pilot")
    subject = f"deal:{deal.id}"
    assert _rows(engine, subject) == []  # the standard process starts deal cadences on request
    with team() as uow:
        started = sc.start_cadence(uow=uow, actor_id="ben", subject=subject)
    assert len(started.touches) == len(load_template("standard")[0].cadence.touches)
    with team() as uow, pytest.raises(Refused, match="already has a cadence running"):
        sc.start_cadence(uow=uow, actor_id="ben", subject=subject)
    with team() as uow:
        sc.record_touch(uow=uow, actor_id="ben", subject=subject, outcome="none")
    with team() as uow:
        sd.reassign_deal(uow=uow, actor_id="max", deal_id=deal.id, to_owner="ada")
    assert [r[2] for r in _rows(engine, subject)][:2] == ["ben", "ada"]
    with team() as uow:
        after = sd.close_deal(uow=uow, actor_id="ada", deal_id=deal.id, outcome="lost", reason="timing")
    assert after.version == deal.version + 4  # started, touch, reassigned, lost: one stream, in order
    assert {(r[1], r[5]) for r in _rows(engine, subject)[1:]} == {("stopped", "lost")}
    with team() as uow, pytest.raises(Refused, match="is lost: a cadence runs only while it is open"):
        sc.start_cadence(uow=uow, actor_id="cyd", subject=subject)


def test_a_process_can_start_deal_cadences_when_the_deal_is_created(uow_factory: Uow, engine: Engine) -> None:
    source = load_template("standard")[1].replace("cadence:\n  name:", "cadence:\n  start: on_create\n  name:", 1)
    assert "start: on_create" in source
    with uow_factory() as uow:
        ws.install_process(uow=uow, source=source, name="standard.yaml")
    with uow_factory() as uow:
        ws.add_user(uow=uow, user_id="ben", name="Ben", roles=["ae"], team="east")
    with uow_factory() as uow:
        deal = sd.create_deal(uow=uow, actor_id="ben", process_key="standard", title="Acme pilot")
    rows = _rows(engine, f"deal:{deal.id}")
    assert rows
    assert rows[0][1] == "open"
    assert deal.version == 2


def test_a_touch_is_overdue_once_its_day_has_gone_by_and_nothing_stores_it(
    team: Uow, engine: Engine, clock: Clock
) -> None:
    first, second = _lead(team), _lead(team)
    with team() as uow:
        sc.record_touch(uow=uow, actor_id="ada", subject=f"lead:{second}")
    today = clock.now.date()
    assert sc.overdue_touches(engine, clock.now) == 0  # both next touches are due, none is late yet
    later = clock.now + timedelta(days=2)
    assert sc.overdue_touches(engine, later) == 2
    with engine.connect() as connection:
        due = tasks.due_tasks(connection, owner="ada", today=later.date())
        assert tasks.count_due(connection, today=later.date()) == 2
    assert [(d.subject, d.step, d.status, tasks.overdue(d.due_on, later.date())) for d in due] == [
        (f"lead:{first}", 1, "open", True),
        (f"lead:{second}", 2, "open", True),
    ]
    assert not tasks.overdue(later.date(), later.date())  # due today is not late yet
    clock.now = later
    with team() as uow:
        sc.record_touch(uow=uow, actor_id="ada", subject=f"lead:{first}")
    assert [r[1] for r in _rows(engine, f"lead:{first}")][:2] == ["done", "open"]
    assert today < later.date()


def test_next_touch_is_the_earlier_of_the_cadence_and_the_next_step(team: Uow, engine: Engine, clock: Clock) -> None:
    with team() as uow:
        deal = sd.create_deal(uow=uow, actor_id="ben", process_key="standard", title="Acme pilot")
    subject = f"deal:{deal.id}"
    with engine.connect() as connection:
        assert sc.next_touch(connection, subject) is None
    with team() as uow:
        step = cmds.SetNextStep(action="Demo", owner="ben", due=clock.now + timedelta(days=4), buyer_confirmed=True)
        sd.capture_evidence(uow=uow, actor_id="ben", deal_id=deal.id, command=step)
    with team() as uow:
        sc.start_cadence(uow=uow, actor_id="ben", subject=subject)
    with engine.connect() as connection:
        first = sc.next_touch(connection, subject)
    assert first is not None
    assert (first.kind, first.step, first.due_on) == ("cadence", 1, clock.now.date())
    for _ in range(3):  # days 0, 2, 5 of the standard deal cadence: the next step (day 4) is now first
        with team() as uow:
            sc.record_touch(uow=uow, actor_id="ben", subject=subject)
    with engine.connect() as connection:
        found = sc.next_touch(connection, subject)
    assert found is not None
    assert (found.kind, found.what, found.due_on) == ("next_step", "Demo", date(2026, 3, 6))


def test_rebuild_recreates_the_cadence_tasks_exactly(team: Uow, engine: Engine, clock: Clock) -> None:
    lead_id = _lead(team)
    with team() as uow:
        sc.record_touch(uow=uow, actor_id="ada", subject=f"lead:{lead_id}", outcome="meeting")
    _lead(team)
    with team() as uow:
        deal = sd.create_deal(uow=uow, actor_id="ben", process_key="standard", title="Acme pilot")
    with team() as uow:
        sc.start_cadence(uow=uow, actor_id="ben", subject=f"deal:{deal.id}")
    with team() as uow:
        sd.reassign_deal(uow=uow, actor_id="max", deal_id=deal.id, to_owner="ada")
    query = select(t.cadence_tasks).order_by(t.cadence_tasks.c.run, t.cadence_tasks.c.step)
    with engine.connect() as connection:
        before = [tuple(r) for r in connection.execute(query)]
    with UnitOfWork(engine, clock=clock) as uow:
        rebuild(uow)
        uow.commit()
    with engine.connect() as connection:
        after = [tuple(r) for r in connection.execute(query)]
    assert after == before
    assert len(before) == 18


def test_a_lead_cadence_started_later_comes_from_the_leads_own_process(team: Uow) -> None:
    source = load_template("standard")[1].replace("key: standard", "key: alpha", 1)
    touches = "".join(f"      - {{day: {d}, channel: email}}\n" for d in (0, 2, 4, 7, 11))
    source = source.replace(
        "\nleads:\n", f"\nleads:\n  cadence:\n    name: Alpha follow-up\n    touches:\n{touches}", 1
    )
    with team() as uow:
        ws.install_process(uow=uow, source=source, name="alpha.yaml")  # installed second: not the default
    with team() as uow:
        lead_id = sl.capture_lead(uow=uow, actor_id="ada", name="Jane Roe", process_key="alpha")
    subject = f"lead:{lead_id}"
    with team() as uow:
        sc.stop_cadence(uow=uow, actor_id="ada", subject=subject)
    with team() as uow:
        restarted = sc.start_cadence(uow=uow, actor_id="ada", subject=subject)
    assert restarted.cadence == "Alpha follow-up"
    with team() as uow:
        other = sl.capture_lead(uow=uow, actor_id="ada", name="Bo Wu")  # no process named: the default one
        running = tasks.running(uow.connection, subject=f"lead:{other}")
        assert running is not None
        assert running.cadence == load_template("standard")[0].leads.cadence.name
