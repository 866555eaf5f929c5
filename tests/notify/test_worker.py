"""The worker: jobs run once per time slot however many workers run, the outbox shared out
between workers without sending anything twice, and the commands that drive it all."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from dealflow.services import webhooks as wh
from dealflow.store import outbox
from dealflow.store import tables as t
from dealflow.store.outbox import Message
from dealflow.worker.jobs import EVERY, JOBS, prune_records
from dealflow.worker.scheduler import Worker, slot_of

from ..conftest import Clock
from ..integration.conftest import Cli
from .conftest import FAST, SECRET, Factory, Mailbox, Target, body_of, configure, outbox_rows
from .deal_steps import create, move


def job_runs(engine: Engine) -> list[tuple[str, object, str]]:
    with engine.connect() as connection:
        query = select(t.job_runs.c.job, t.job_runs.c.slot, t.job_runs.c.worker).order_by(t.job_runs.c.job)
        return [tuple(r) for r in connection.execute(query)]  # type: ignore[misc]


def test_the_registry_holds_the_jobs_and_their_periods() -> None:
    assert {"deliver_outbox", "sla_breaches", "daily_reminders"} <= set(JOBS)
    assert EVERY["deliver_outbox"] is None
    assert EVERY["daily_reminders"] == timedelta(days=1)


def test_a_job_runs_once_per_slot_and_a_failing_one_does_not_stop_the_others(
    people: Factory, engine: Engine, clock: Clock
) -> None:
    calls: list[str] = []

    def broken(_engine: Engine, _now: object) -> int:
        calls.append("broken")
        raise RuntimeError("no luck")

    def counting(_engine: Engine, _now: object) -> int:
        calls.append("counting")
        return 3

    jobs = {"broken": broken, "counting": counting}
    every = {"broken": timedelta(minutes=5), "counting": timedelta(hours=1)}
    first, second = Worker(engine, jobs, every, name="w1"), Worker(engine, jobs, every, name="w2")
    results = first.run_pass(clock.now)
    assert [(r.name, r.ran, r.done, r.error) for r in results] == [
        ("broken", True, 0, "RuntimeError: no luck"),
        ("counting", True, 3, None),
    ]
    assert [r.ran for r in second.run_pass(clock.advance(minutes=1))] == [False, False]
    assert [r.ran for r in second.run_pass(clock.advance(minutes=5))] == [True, False]  # broken's next slot
    assert calls == ["broken", "counting", "broken"]
    runs = job_runs(engine)
    assert [(job, worker) for job, _slot, worker in runs] == [("broken", "w1"), ("broken", "w2"), ("counting", "w1")]
    assert slot_of(clock.now, timedelta(hours=1)) == clock.now.replace(minute=0)


def test_the_commands_manage_webhooks_calendar_urls_and_run_the_worker(
    workspace: Cli, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEALFLOW_SMTP_HOST", raising=False)
    assert workspace("webhook", "add", target.url, "--events", "DealMoved,DealWon") == 2
    assert "events: unknown event 'DealWon'; choose among DealMoved" in workspace.err
    assert workspace("webhook", "add", "not a url", "--events", "DealMoved") == 2
    assert workspace("webhook", "add", target.url, "--events", "DealMoved", "--secret", SECRET) == 0
    hook_id = workspace.out.split()[2]
    assert [h["id"] for h in workspace.json("webhook", "list")] == [hook_id]  # type: ignore[union-attr, index]
    assert "secret" not in workspace.out

    assert workspace("deal", "create", "Acme") == 0
    assert workspace("deal", "update", "D-1", "-f", "source=referral") == 0
    assert workspace("deal", "move", "D-1", "qualification", "--override", "--reason", "Known buyer") == 0
    assert workspace("worker", "--once") == 0, workspace.err
    assert "deliver_outbox: 1 in" in workspace.out
    assert [call.json["data"]["to"] for call in target.calls] == ["qualification"]
    assert all(call.signed for call in target.calls)
    log = workspace.json("webhook", "log", hook_id)
    assert [(r["ok"], r["status_code"], r["to"]) for r in log] == [(True, 200, target.url)]  # type: ignore[index, union-attr]
    assert workspace("webhook", "log") == 0
    assert "ok 200" in workspace.out

    assert workspace("calendar", "url") == 0
    assert workspace.out.strip().startswith("http://127.0.0.1:8000/calendar/cal_")
    assert workspace("calendar", "revoke") == 0
    assert workspace.out.strip() == "revoked 1 calendar feed"

    assert workspace("webhook", "remove", hook_id) == 0
    assert workspace("webhook", "remove", hook_id) == 4
    assert f"no webhook '{hook_id}'" in workspace.err
    assert workspace("webhook", "log", "--kind", "fax") == 2


@pytest.mark.postgres
def test_two_workers_on_one_postgresql_send_everything_exactly_once(
    people: Factory, engine: Engine, clock: Clock, mailbox: Mailbox, target: Target
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several workers share one PostgreSQL workspace")
    emails = [
        Message(f"test:{i}", outbox.EMAIL, {"to": f"rep{i}@example.com", "subject": f"n{i}", "body": "hi"})
        for i in range(200)
    ]
    with people() as uow:
        hook_id = wh.add_webhook(uow=uow, actor_id="root", url=target.url, events=["DealMoved"], secret=SECRET).id
    for i in range(50):
        move(people, create(people, f"Deal {i}", stage="prospecting"), "qualification")
    with engine.begin() as connection:
        outbox.enqueue(connection, emails, now=clock.now)
    # A send that times out after the server took the message is sent again (at least once): this test
    # is about claims, so the timeout is long enough for a loaded machine.
    configure(engine, mailbox.settings(), replace(FAST, timeout=30.0))
    mailbox.handler.delay = 0.005  # 200 emails take a second or more: both workers get to claim

    workers = [Worker(engine, name=f"worker-{n}") for n in (1, 2)]
    start = threading.Barrier(2)
    results: dict[str, list[list[object]]] = {w.name: [] for w in workers}

    def work(worker: Worker) -> None:
        start.wait()
        for minute in range(3):
            results[worker.name].append(worker.run_pass(clock.now + timedelta(minutes=minute)))

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    received = [m["To"] for m in mailbox.messages]
    assert len(received) == 200
    assert sorted(received) == sorted(f"rep{i}@example.com" for i in range(200))
    deliveries = [call.headers["X-Dealflow-Delivery"] for call in target.calls]
    assert len(deliveries) == len(set(deliveries)) == 50
    assert all(call.signed for call in target.calls)
    assert {r.status for r in outbox_rows(engine)} == {"sent"}
    assert all(r.webhook_id == hook_id for r in outbox_rows(engine) if r.kind == "webhook")
    with engine.connect() as connection:
        tries = connection.execute(select(func.count()).select_from(t.delivery_attempts)).scalar()
    assert tries == 250
    sent_by = {
        name: sum(r.done for run in runs for r in run if r.name == "deliver_outbox")  # type: ignore[attr-defined]
        for name, runs in results.items()
    }
    assert sum(sent_by.values()) == 250, sent_by
    assert all(sent_by.values()), sent_by  # both took a share
    # Each slotted job ran once per slot over both workers: the slots of 3 passes a minute apart.
    for job in ("sla_breaches", "daily_reminders"):
        ran = [r for runs in results.values() for run in runs for r in run if r.name == job and r.ran]  # type: ignore[attr-defined]
        slots = {slot for name, slot, _worker in job_runs(engine) if name == job}
        assert len(ran) == len(slots) == 1


def test_a_claim_takes_at_most_its_limit_and_never_a_claimed_row(engine: Engine, clock: Clock) -> None:
    messages = [Message(f"test:{i}", outbox.WEBHOOK, {"event": "DealMoved"}) for i in range(120)]
    with engine.begin() as connection:
        assert outbox.enqueue(connection, messages, now=clock.now) == 120
        assert outbox.enqueue(connection, messages[:10], now=clock.now) == 0  # the same keys: left alone
    lease = timedelta(minutes=5)
    taken = []
    for worker in ("w1", "w2", "w3"):
        with engine.begin() as connection:
            rows = outbox.claim(connection, worker=worker, now=clock.now, limit=50, lease=lease, kinds=["webhook"])
        taken.append({r.id for r in rows})
    assert [len(ids) for ids in taken] == [50, 50, 20]
    assert len(set.union(*taken)) == 120
    with engine.begin() as connection:
        assert outbox.claim(connection, worker="w4", now=clock.now, limit=50, lease=lease, kinds=["webhook"]) == []
        again = outbox.claim(
            connection, worker="w4", now=clock.now + lease * 2, limit=500, lease=lease, kinds=["webhook"]
        )
    assert len(again) == 120  # the leases ran out: a worker that died leaves its rows to others


def test_the_worker_command_sends_email_with_the_smtp_settings_of_the_environment(
    workspace: Cli, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEALFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DEALFLOW_SMTP_PORT", str(mailbox.port))
    monkeypatch.setenv("DEALFLOW_SMTP_FROM", "crm@example.com")
    assert workspace("user", "add", "ava", "--name", "Ava Stone", "--role", "ae", "--email", "ava@example.com") == 0
    assert workspace("deal", "create", "Acme", "--owner", "ava") == 0
    # Due by the end of today (UTC), whatever the hour the test runs at: "in 1h" is tomorrow after 23:00.
    today = datetime.now(UTC).date().isoformat()
    assert workspace("next-step", "set", "D-1", "Send the quote", "--owner", "ava", "--due", today) == 0
    assert workspace("worker", "--once", "--interval", "1") == 0, workspace.err
    assert "daily_reminders: 1 in" in workspace.out
    assert "deliver_outbox: 1 in" in workspace.out
    [message] = mailbox.messages
    assert (message["From"], message["To"]) == ("crm@example.com", "ava@example.com")
    assert "D-1 Acme: Send the quote" in body_of(message)
    log = workspace.json("webhook", "log", "--kind", "email")
    assert [(r["to"], r["ok"], r["status"]) for r in log] == [("ava@example.com", True, "sent")]  # type: ignore[index, union-attr]


def test_old_deliveries_and_job_runs_are_forgotten_but_not_those_to_send(
    people: Factory, engine: Engine, clock: Clock, target: Target
) -> None:
    with people() as uow:
        wh.add_webhook(uow=uow, actor_id="root", url=target.url, events=["DealMoved"], secret=SECRET)
    move(people, create(people, "Sent", stage="prospecting"), "qualification")
    configure(engine)
    Worker(engine, name="w1").run_pass(clock.now)
    target.answers = [500]
    move(people, create(people, "Failing", stage="prospecting"), "qualification")
    Worker(engine, name="w1").run_pass(clock.advance(minutes=1))
    assert [r.status for r in outbox_rows(engine)] == ["sent", "failed"]

    assert prune_records(engine, clock.now + timedelta(days=89)) == 0
    runs = len(job_runs(engine))
    assert runs >= len([job for job, period in EVERY.items() if period is not None])  # each slotted job once at least
    removed = prune_records(engine, clock.now + timedelta(days=91))
    assert [r.status for r in outbox_rows(engine)] == ["failed"]  # still to deliver: kept
    assert removed == 1 + 2 + runs  # the sent row, both attempts, every job run
    assert job_runs(engine) == []
