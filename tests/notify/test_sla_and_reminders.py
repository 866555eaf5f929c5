"""Service levels missed (stage stays, handoffs) flagged once each, and the daily digest of next
steps queued once per user and day."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from dealflow.domain import events as ev
from dealflow.services.reminders import send_daily_reminders
from dealflow.services.sla import record_sla_breaches
from dealflow.store import tables as t
from dealflow.store.event_log import rebuild
from dealflow.store.unit_of_work import UnitOfWork
from dealflow.worker.delivery import deliver_outbox

from ..conftest import Clock
from .conftest import Factory, Mailbox, body_of, configure, outbox_rows
from .deal_steps import accept, create, hand_over, move, next_step


def breaches(engine: Engine) -> list[tuple[str, str, str | None]]:
    b = t.sla_breaches
    with engine.connect() as connection:
        rows = connection.execute(select(b.c.kind, b.c.subject, b.c.stage).order_by(b.c.seq)).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def breach_events(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        query = select(t.events.c.data).where(t.events.c.type == ev.SLA_BREACHED).order_by(t.events.c.seq)
        return [row.data for row in connection.execute(query)]


def test_a_stay_past_its_stage_sla_is_flagged_once_per_visit(people: Factory, engine: Engine, clock: Clock) -> None:
    late = create(people, "Late", stage="prospecting")  # prospecting: sla 7d
    clock.advance(days=3)
    fresh = create(people, "Fresh", stage="prospecting")
    assert record_sla_breaches(engine, clock.advance(days=4, minutes=1)) == 1
    assert record_sla_breaches(engine, clock.now) == 0
    assert record_sla_breaches(engine, clock.advance(days=1)) == 0
    assert breaches(engine) == [("stage", late, "prospecting")]
    [data] = breach_events(engine)
    assert data["deal_id"] == late
    assert data["owner"] == "ada"
    assert data["due_at"] == (clock.now - timedelta(days=1, minutes=1)).isoformat()

    move(people, late, "qualification")  # a new visit, with its own 5d
    assert record_sla_breaches(engine, clock.advance(days=5, seconds=1)) == 2  # that one, and fresh at last
    assert record_sla_breaches(engine, clock.now) == 0
    expected = [("stage", late, "prospecting"), ("stage", fresh, "prospecting"), ("stage", late, "qualification")]
    assert sorted(breaches(engine)) == sorted(expected)


def test_a_breach_emails_the_owner_and_their_manager(
    people: Factory, engine: Engine, clock: Clock, mailbox: Mailbox
) -> None:
    deal_id = create(people, "Acme", stage="prospecting")
    assert record_sla_breaches(engine, clock.advance(days=8)) == 1
    assert sorted(r.payload["to"] for r in outbox_rows(engine)) == ["ada@example.com", "max@example.com"]
    configure(engine, mailbox.settings())
    assert deliver_outbox(engine, clock.now) == 2
    subjects = {m["Subject"] for m in mailbox.messages}
    assert subjects == {f'Service level missed: {deal_id} "Acme"'}
    assert "stayed past the prospecting stage's limit" in body_of(mailbox.messages[0])


def test_a_handoff_not_accepted_in_time_is_flagged_once(people: Factory, engine: Engine, clock: Clock) -> None:
    waiting = hand_over(people, create(people, "Waiting"), to="cyd")
    taken = hand_over(people, create(people, "Taken"), to="ben")
    accept(people, taken)
    assert record_sla_breaches(engine, clock.advance(hours=23)) == 0  # discovery's handoff sla: 1d
    assert record_sla_breaches(engine, clock.advance(hours=2)) == 1
    assert record_sla_breaches(engine, clock.advance(hours=2)) == 0
    assert breaches(engine) == [("handoff", waiting, "discovery")]
    [data] = breach_events(engine)
    assert (data["kind"], data["handoff_id"], data["owner"]) == ("handoff", waiting, "cyd")
    # cyd has no address; their manager, wes, hears of it.
    assert [r.payload["to"] for r in outbox_rows(engine) if r.payload["subject"].startswith("Service")] == [
        "wes@example.com"
    ]


def test_replay_keeps_the_breaches_so_nothing_is_flagged_twice(people: Factory, engine: Engine, clock: Clock) -> None:
    create(people, "Old", stage="prospecting")
    assert record_sla_breaches(engine, clock.advance(days=9)) == 1
    before = breaches(engine)
    with UnitOfWork(engine, clock=clock) as uow:
        rebuild(uow)
        uow.commit()
    assert breaches(engine) == before
    assert record_sla_breaches(engine, clock.now) == 0


def test_the_daily_digest_lists_steps_due_today_or_overdue_once_a_day(
    people: Factory, engine: Engine, clock: Clock, mailbox: Mailbox
) -> None:
    today, overdue, later = (create(people, title, stage="qualification") for title in ("Today", "Overdue", "Later"))
    next_step(people, today, "ada", clock.now + timedelta(hours=5), "Send the quote")
    next_step(people, later, "ada", clock.now + timedelta(days=2), "Demo")
    next_step(people, overdue, "ben", clock.now + timedelta(hours=1), "Call the CFO")
    next_step(people, create(people, "Cyd's"), "cyd", clock.now + timedelta(hours=1))  # no address: no digest
    clock.advance(hours=3)  # ben's step is now overdue

    assert send_daily_reminders(engine, clock.now) == 2
    assert send_daily_reminders(engine, clock.advance(hours=1)) == 0
    configure(engine, mailbox.settings())
    assert deliver_outbox(engine, clock.now) == 2
    mail = {m["To"]: m for m in mailbox.messages}
    assert set(mail) == {"ada@example.com", "ben@example.com"}
    ada, ben = body_of(mail["ada@example.com"]), body_of(mail["ben@example.com"])
    assert f"{today} Today: Send the quote" in ada
    assert "Demo" not in ada
    assert f"(overdue)  {overdue} Overdue: Call the CFO" in ben
    assert mail["ben@example.com"]["Subject"] == "Your next steps for Monday 02 March: 1 due, 1 overdue"

    assert send_daily_reminders(engine, clock.advance(days=2)) == 2  # a new day: Later is due for ada
