"""Emails: written to the outbox with the events, sent over a real SMTP server by the worker,
kept and sent later when the server is down."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from dealflow.domain.events import Event
from dealflow.services import leads as sl
from dealflow.services.recording import record_events
from dealflow.settings import Settings
from dealflow.store.event_log import rebuild
from dealflow.store.unit_of_work import UnitOfWork
from dealflow.worker.delivery import deliver_outbox

from ..conftest import Clock
from .conftest import FAST, Factory, Mailbox, attempts, body_of, configure, free_port, outbox_rows
from .deal_steps import create, hand_over


def test_a_handoff_emails_its_receiver_once(people: Factory, engine: Engine, clock: Clock, mailbox: Mailbox) -> None:
    deal_id = create(people, "Acme: 40 seats")
    handoff_id = hand_over(people, deal_id, to="ben")
    rows = outbox_rows(engine)
    assert [(r.kind, r.payload["to"], r.status) for r in rows] == [("email", "ben@example.com", "pending")]

    configure(engine, mailbox.settings())
    assert deliver_outbox(engine, clock.now) == 1
    assert deliver_outbox(engine, clock.now) == 0
    [message] = mailbox.messages
    assert message["To"] == "ben@example.com"
    assert message["From"] == "dealflow@example.com"
    assert message["Subject"] == f'Handoff to accept: {deal_id} "Acme: 40 seats"'
    body = body_of(message)
    assert "Hello Ben," in body
    assert f"Handoff id: {handoff_id}" in body
    assert f"Accept it by {clock.now + timedelta(days=1):%Y-%m-%d %H:%M} UTC" in body
    assert [(r.status, r.attempts) for r in outbox_rows(engine)] == [("sent", 1)]
    assert [(a.ok, a.status_code) for a in attempts(engine)] == [(True, 250)]


def test_a_receiver_without_an_email_address_gets_no_email(people: Factory, engine: Engine) -> None:
    hand_over(people, create(people, "Initech"), to="cyd")
    assert outbox_rows(engine) == []


def test_an_smtp_server_that_is_down_gets_the_email_on_a_later_pass(
    people: Factory, engine: Engine, clock: Clock
) -> None:
    box = Mailbox(free_port())  # nothing listens there yet
    hand_over(people, create(people, "Globex"), to="ben")
    configure(engine, box.settings())

    assert deliver_outbox(engine, clock.now) == 0
    [row] = outbox_rows(engine)
    assert (row.status, row.attempts) == ("failed", 1)
    assert f"127.0.0.1:{box.port}" in row.last_error
    wait = row.next_attempt_at - clock.now
    assert timedelta(seconds=30) <= wait <= timedelta(minutes=1)  # FAST's first retry, with jitter
    assert deliver_outbox(engine, clock.now + timedelta(seconds=5)) == 0  # not due again yet
    assert len(attempts(engine)) == 1

    box.start()
    try:
        assert deliver_outbox(engine, clock.now + timedelta(minutes=2)) == 1
        [message] = box.messages
        assert message["To"] == "ben@example.com"
        assert "Globex" in message["Subject"]
    finally:
        box.stop()
    assert [(r.status, r.attempts, r.last_error) for r in outbox_rows(engine)] == [("sent", 2, None)]
    assert [a.ok for a in attempts(engine)] == [False, True]


def test_without_an_smtp_host_emails_wait_in_the_outbox(people: Factory, engine: Engine, clock: Clock) -> None:
    hand_over(people, create(people, "Hooli"), to="ben")
    configure(engine, Settings(smtp_host=None))
    assert deliver_outbox(engine, clock.now) == 0
    assert [(r.status, r.attempts) for r in outbox_rows(engine)] == [("pending", 0)]


def test_a_lead_assigned_emails_the_new_owner(people: Factory, engine: Engine, clock: Clock, mailbox: Mailbox) -> None:
    with people() as uow:
        lead_id = sl.capture_lead(uow=uow, actor_id="root", name="Jo Smith", company="Acme", owner="ada")
    data = {"owner": "ben", "previous_owner": "ada", "rule": "east-ae", "reason": "territory east"}
    with people() as uow:
        record_events(uow, [Event("LeadAssigned", f"lead:{lead_id}", clock.now, "system", data)])
        uow.commit()
    configure(engine, mailbox.settings())
    assert deliver_outbox(engine, clock.now) == 1
    [message] = mailbox.messages
    assert message["To"] == "ben@example.com"
    assert message["Subject"] == f'New lead for you: {lead_id} "Jo Smith (Acme)"'
    assert "(territory east)" in body_of(message)


def test_replaying_the_log_sends_nothing_again(people: Factory, engine: Engine, clock: Clock) -> None:
    hand_over(people, create(people, "Umbrella"), to="ben")
    before = outbox_rows(engine)
    with UnitOfWork(engine, clock=clock) as uow:
        rebuild(uow)
        uow.commit()
    assert outbox_rows(engine) == before


def test_a_long_smtp_outage_never_makes_an_email_dead(people: Factory, engine: Engine, clock: Clock) -> None:
    box = Mailbox(free_port())
    hand_over(people, create(people, "Initech"), to="ben")
    hand_over(people, create(people, "Vandelay"), to="ben")
    configure(engine, box.settings())
    when = clock.now
    for _ in range(FAST.max_attempts + 2):
        assert deliver_outbox(engine, when) == 0
        when += FAST.longest_wait
    rows = outbox_rows(engine)
    assert [(r.status, r.attempts) for r in rows] == [("failed", FAST.max_attempts + 2)] * 2
    logged = attempts(engine)
    # In each pass the first email found the server down; the second was not tried (no second wait).
    assert [a.error.split(": ")[1].startswith("not tried") for a in logged[:2]] == [False, True]
    box.start()
    try:
        assert deliver_outbox(engine, when) == 2
    finally:
        box.stop()
    assert len(box.messages) == 2
