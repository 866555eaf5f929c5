"""Webhooks: signed JSON POSTs to a real local HTTP server, retried with backoff on a 500 or a
timeout, every attempt logged, and dead after the last try."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from dealflow.errors import Forbidden, InvalidInput
from dealflow.services import webhooks as wh
from dealflow.store.event_log import record_new_deals
from dealflow.store.new_deals import NewDeal
from dealflow.worker.delivery import deliver_outbox

from ..conftest import Clock
from .conftest import FAST, SECRET, Factory, Target, attempts, configure, outbox_rows
from .deal_steps import accept, create, hand_over, move


def subscribe(people: Factory, target: Target, *events: str) -> str:
    with people() as uow:
        return wh.add_webhook(uow=uow, actor_id="root", url=target.url, events=list(events), secret=SECRET).id


def test_subscribed_events_arrive_signed_once_each(
    people: Factory, engine: Engine, clock: Clock, target: Target
) -> None:
    hook_id = subscribe(people, target, "DealMoved", "HandoffAccepted")
    deal_id = create(people, "Acme", stage="qualification")
    handoff_id = hand_over(people, deal_id, to="cyd")  # a move (subscribed) and a handoff (not)
    accept(people, handoff_id, actor="cyd")
    configure(engine)
    assert deliver_outbox(engine, clock.now) == 2
    assert deliver_outbox(engine, clock.now) == 0

    moved, accepted = target.calls
    assert all(call.signed for call in target.calls)
    assert moved.json["event"] == "DealMoved"
    assert moved.json["stream"] == f"deal:{deal_id}"
    assert moved.json["data"]["to"] == "discovery"
    assert accepted.json["event"] == "HandoffAccepted"
    assert accepted.json["data"]["id"] == handoff_id
    assert moved.headers["X-Dealflow-Event"] == "DealMoved"
    assert moved.headers["X-Dealflow-Delivery"] == moved.json["delivery"] == f"webhook:{hook_id}:{moved.json['seq']}"
    assert moved.headers["X-Dealflow-Timestamp"] == str(int(clock.now.timestamp()))
    assert moved.headers["Content-Type"] == "application/json"


def test_a_500_is_retried_after_a_backoff(people: Factory, engine: Engine, clock: Clock, target: Target) -> None:
    target.answers = [500, 200]
    subscribe(people, target, "DealMoved")
    move(people, create(people, "Initech", stage="prospecting"), "qualification")
    configure(engine)

    assert deliver_outbox(engine, clock.now) == 0
    [row] = outbox_rows(engine)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "HTTP 500: ok")
    assert deliver_outbox(engine, clock.now + timedelta(seconds=29)) == 0  # not due yet: at least half a minute
    assert deliver_outbox(engine, row.next_attempt_at) == 1
    assert [(a.attempt, a.ok, a.status_code) for a in attempts(engine)] == [(1, False, 500), (2, True, 200)]
    assert len(target.calls) == 2
    assert target.calls[0].body == target.calls[1].body  # the same delivery, the same bytes


def test_a_target_that_times_out_is_retried_with_growing_waits_and_logged(
    people: Factory, engine: Engine, clock: Clock, target: Target
) -> None:
    target.delay = 3.0  # FAST waits 0.5 s
    subscribe(people, target, "DealMoved")
    move(people, create(people, "Globex", stage="prospecting"), "qualification")
    configure(engine)

    started = time.monotonic()
    assert deliver_outbox(engine, clock.now) == 0
    assert time.monotonic() - started < 2.5  # gave up at the timeout, did not wait for the answer
    [row] = outbox_rows(engine)
    first_wait = row.next_attempt_at - clock.now
    assert FAST.first_retry / 2 <= first_wait <= FAST.first_retry
    assert row.status == "failed"
    assert "timed out" in row.last_error

    later = row.next_attempt_at
    assert deliver_outbox(engine, later) == 0
    [row] = outbox_rows(engine)
    second_wait = row.next_attempt_at - later
    assert FAST.first_retry <= second_wait <= FAST.first_retry * 2  # doubled, with jitter
    logged = attempts(engine)
    assert [(a.attempt, a.ok, a.status_code) for a in logged] == [(1, False, None), (2, False, None)]
    assert all("timed out" in a.error and 400 <= a.duration_ms < 2500 for a in logged)


def test_a_target_that_never_recovers_is_dead_after_the_last_try(
    people: Factory, engine: Engine, clock: Clock, target: Target
) -> None:
    target.answers = [503]
    subscribe(people, target, "DealMoved")
    move(people, create(people, "Hooli", stage="prospecting"), "qualification")
    configure(engine)
    when = clock.now
    for _ in range(FAST.max_attempts):
        assert deliver_outbox(engine, when) == 0
        when = when + FAST.longest_wait
    [row] = outbox_rows(engine)
    assert (row.status, row.attempts) == ("dead", FAST.max_attempts)
    assert deliver_outbox(engine, when + timedelta(days=7)) == 0
    assert len(target.calls) == FAST.max_attempts
    assert [a.status_code for a in attempts(engine)] == [503] * FAST.max_attempts


def test_a_removed_webhook_gets_nothing_more(people: Factory, engine: Engine, clock: Clock, target: Target) -> None:
    hook_id = subscribe(people, target, "DealMoved")
    move(people, create(people, "Vehement", stage="prospecting"), "qualification")
    with people() as uow:
        wh.remove_webhook(uow=uow, actor_id="root", webhook_id=hook_id)
    move(people, create(people, "Massive", stage="prospecting"), "qualification")
    configure(engine)
    assert deliver_outbox(engine, clock.now) == 0
    assert target.calls == []
    assert [(r.status, r.last_error) for r in outbox_rows(engine)] == [
        ("dead", "the webhook was removed or turned off")
    ]


def test_webhooks_are_checked_and_kept_to_admins(people: Factory, target: Target) -> None:
    with people() as uow, pytest.raises(InvalidInput, match="choose among DealMoved, HandoffCreated"):
        wh.add_webhook(uow=uow, actor_id="root", url=target.url, events=["DealWon"])
    with people() as uow, pytest.raises(InvalidInput, match="url: must be an http:// or https:// URL"):
        wh.add_webhook(uow=uow, actor_id="root", url="ftp://example.com/x", events=["DealMoved"])
    with people() as uow, pytest.raises(InvalidInput, match="secret: must be 16 to 200 characters"):
        wh.add_webhook(uow=uow, actor_id="root", url=target.url, events=["DealMoved"], secret="short")
    with people() as uow, pytest.raises(Forbidden, match="only revops or admin may manage webhooks"):
        wh.add_webhook(uow=uow, actor_id="ada", url=target.url, events=["DealMoved"])
    with people() as uow:
        assert wh.list_webhooks(uow=uow, actor_id="root") == []


def test_an_imported_history_notifies_nobody(people: Factory, engine: Engine, clock: Clock, target: Target) -> None:
    subscribe(people, target, "DealMoved")
    created = {"title": "Old deal", "process": "standard", "process_version": 1, "account_id": None,
               "owner": "ada", "stage": "prospecting", "fields": {"title": "Old deal"}}  # fmt: skip
    moved = {"from": "prospecting", "to": "qualification", "kind": "forward", "reason": None, "override": False}
    steps = [("DealCreated", clock.now, created), ("DealMoved", clock.now + timedelta(days=1), moved)]
    with people() as uow:
        assert record_new_deals(uow, [NewDeal("deal:D-900", "ada", steps)]) == 2
        uow.commit()
    assert outbox_rows(engine) == []
    move(people, "D-900", "discovery")  # live again: this one is news
    assert [r.payload["event"] for r in outbox_rows(engine) if r.kind == "webhook"] == ["DealMoved"]
