"""Lead scoring, nurture and the learned score on both backends, through the services and the CLI."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from dealflow.domain import events as ev
from dealflow.errors import Refused
from dealflow.services import deals as sd
from dealflow.services import lead_scoring
from dealflow.services import leads as sl
from dealflow.services import workspace as ws
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.event_log import read_events, rebuild
from dealflow.store.unit_of_work import UnitOfWork

from ..conftest import Clock
from .conftest import Cli

LEARN = """
key: learn
name: Learning from history
version: 1
qualification: bant
fields:
  source: {type: choice, choices: [demo_request, content, chat, webinar]}
  segment: {type: choice, choices: [smb, mid, enterprise]}
stages:
  - {key: open, name: Open, owner_role: ae}
  - {key: closing, name: Closing, owner_role: ae}
outcomes:
  won: {from: [open, closing]}
leads:
  scoring:
    fit:
      - {label: "Business email", when: "business_email", points: 10}
    intent:
      - {label: "Two BANT elements confirmed", when: "qualification >= 2", points: 20}
      - {label: "Demo request", when: "source == 'demo_request'", points: 30}
  nurture:
    reasons: [timing, other]
"""

UowFactory = Callable[[], UnitOfWork]


@pytest.fixture
def learn(team: UowFactory) -> UowFactory:
    """The shared team with the learning process installed."""
    with team() as uow:
        ws.install_process(uow=uow, source=LEARN, name="learn.yaml")
    return team


def capture(uow_factory: UowFactory, owner: str = "ben", **options: Any) -> str:
    with uow_factory() as uow:
        return sl.capture_lead(uow=uow, actor_id=owner, process_key="learn", **{"name": "Jane", **options})


def lead_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(select(t.leads).order_by(t.leads.c.id))]


def test_capture_scores_the_lead_and_a_change_rescores_it(learn: UowFactory, engine: Engine) -> None:
    lead_id = capture(learn, email="jane@acme.io", source="demo_request")
    with learn() as uow:
        row = queries.get_lead(uow.connection, lead_id=lead_id)
    assert row is not None
    assert (row.fit_score, row.intent_score, row.score, row.learned_score) == (10, 30, 40, None)
    with learn() as uow:
        sl.qualify(uow=uow, actor_id="ben", lead_id=lead_id, answers={"budget": (True, "50k set aside")})
    with learn() as uow:
        found = sl.qualify(uow=uow, actor_id="ben", lead_id=lead_id, answers={"need": (True, "manual reports")})
    assert found is not None
    assert found.rules.intent == 50
    with learn() as uow:
        row = queries.get_lead(uow.connection, lead_id=lead_id)
        types = [e.type for _, _, e in read_events(uow.connection, stream=f"lead:{lead_id}")]
    assert row is not None
    assert row.score == 60
    # Scored at capture, then again only when the score moved (the first element changed nothing).
    captured = [ev.LEAD_CREATED, ev.LEAD_SCORED, ev.CADENCE_STARTED]
    assert types == [*captured, ev.LEAD_QUALIFIED, ev.LEAD_QUALIFIED, ev.LEAD_SCORED]
    before = lead_rows(engine)
    with learn() as uow:
        rebuild(uow)
        uow.commit()
    assert lead_rows(engine) == before


def test_nurtured_leads_reopen_when_their_date_comes_once_and_only_once(
    learn: UowFactory, engine: Engine, clock: Clock
) -> None:
    soon, later, stays = (capture(learn, name=n) for n in ("Soon", "Later", "Open"))
    for lead_id, until in ((soon, date(2026, 3, 10)), (later, date(2026, 4, 1))):
        with learn() as uow:
            sl.recycle(uow=uow, actor_id="ben", lead_id=lead_id, reason="timing", until=until)
    with learn() as uow, pytest.raises(Refused, match="in nurture until 2026-03-10"):
        sl.recycle(uow=uow, actor_id="ben", lead_id=soon, reason="timing", until=date(2026, 5, 1))
    start = clock.now
    assert lead_scoring.reopen_nurtured(engine, start + timedelta(days=1)) == 0
    assert lead_scoring.reopen_nurtured(engine, start + timedelta(days=8)) == 1
    assert lead_scoring.reopen_nurtured(engine, start + timedelta(days=8)) == 0
    statuses = {r[0]: r[7] for r in lead_rows(engine)}
    assert statuses == {soon: "open", later: "nurture", stays: "open"}
    # The reopened lead's stream carries on: it can be parked again.
    clock.advance(days=9)
    with learn() as uow:
        sl.recycle(uow=uow, actor_id="ben", lead_id=soon, reason="other", until=date(2026, 9, 1))
    assert lead_scoring.reopen_nurtured(engine, start + timedelta(days=60)) == 1
    before = lead_rows(engine)
    with learn() as uow:
        rebuild(uow)
        uow.commit()
    assert lead_rows(engine) == before
    with learn() as uow:
        types = [e.type for _, _, e in read_events(uow.connection, stream=f"lead:{soon}")]
    assert types.count(ev.LEAD_REOPENED) == 1
    assert types[-1] == ev.LEAD_RECYCLED


def close_history(uow_factory: UowFactory, count: int, seed: int = 3) -> None:
    """Closed deals whose outcome depends on the source being a demo request."""
    rng = random.Random(seed)
    for i in range(count):
        demo = i % 5 < 2
        source = "demo_request" if demo else rng.choice(["content", "chat", "webinar"])
        fields = {
            "source": source,
            "segment": rng.choice(["smb", "mid", "enterprise"]),
            "amount": str(rng.randint(1, 90) * 1000),
        }
        with uow_factory() as uow:
            deal = sd.create_deal(uow=uow, actor_id="ben", process_key="learn", title=f"Deal {i}", fields=fields)
        won = rng.random() < (0.85 if demo else 0.15)
        with uow_factory() as uow:
            sd.close_deal(uow=uow, actor_id="ben", deal_id=deal.id, outcome="won" if won else "lost",
                          reason=None if won else "no_budget")  # fmt: skip


def test_training_refuses_a_thin_history_then_learns_and_scores_leads(
    learn: UowFactory, cli: Cli, database_url: str
) -> None:
    close_history(learn, 20)
    assert cli("score", "train", "--process", "learn", "--as", "max") == 3
    assert "too little history to learn from in process learn: 20 closed deals" in cli.err
    assert "Needs at least 50 closed deals, with at least 10 won and 10 lost" in cli.err
    close_history(learn, 100, seed=4)
    early = capture(learn, source="demo_request")
    trained = cli.json("score", "train", "--process", "learn", "--as", "max")
    assert isinstance(trained, dict)
    assert trained["n"] == 120
    assert trained["rescored"] == 1
    assert trained["auc"] > 0.7
    assert trained["top"][0]["feature"] == "source is demo_request"
    hot = capture(learn, source="demo_request")
    cold = capture(learn, source="content")
    with learn() as uow:
        rows = {r.id: r.learned_score for r in queries.list_leads(uow.connection, status="open")}
    assert rows[hot] > 0.5 > rows[cold]
    assert rows[early] == rows[hot]  # scored again by the new model as it was stored
    shown = cli.json("score", "lead", hot)
    assert isinstance(shown, dict)
    assert shown["learned"] == pytest.approx(rows[hot], abs=1e-4)
    assert shown["learned_factors"][0]["feature"] == "source is demo_request"
    assert cli("score", "lead", cold) == 0
    assert "learned probability of winning" in cli.out


def test_the_command_line_works_a_lead_from_scorecard_to_deal(workspace: Cli) -> None:
    assert workspace("process", "install", "src/dealflow/process/templates/saas.yaml") == 0
    assert workspace("lead", "create", "Jane Roe", "--company", "Acme", "--email", "jane@acme.io",
                     "--source", "demo_request", "--process", "saas", "-f", "company_size=120") == 0  # fmt: skip
    shown = workspace.json("lead", "show", "L-1")
    assert isinstance(shown, dict)
    assert shown["scores"]["fit"] == 35
    assert shown["conversion"]["missing"] == ["MEDDIC too thin to open a deal (at least 2 of 6 confirmed) (score 0)"]
    assert workspace("lead", "convert", "L-1") == 3
    assert "cannot become a deal yet: 1 criterion unmet" in workspace.err
    assert workspace("lead", "qualify", "L-1", "identify_pain", "--note", "Reports take 2 days") == 0
    assert "identify_pain confirmed (1 of 6)" in workspace.out
    assert workspace("lead", "qualify", "L-1", "budget") == 2
    assert "'budget' is not one of: metrics" in workspace.err
    assert workspace("lead", "qualify", "L-1", "metrics") == 0
    assert workspace("lead", "qualify", "L-1", "metrics", "--no") == 0
    assert "metrics withdrawn (1 of 6)" in workspace.out
    assert workspace("lead", "show", "L-1") == 0
    assert "✔ Identify pain — Reports take 2 days" in workspace.out
    assert workspace("lead", "convert", "L-1", "--override") == 3
    assert "an override needs a written reason" in workspace.err
    assert workspace("lead", "convert", "L-1", "--override", "--reason", "Board-level intro") == 0
    deal = workspace.json("deal", "show", "D-1")
    assert isinstance(deal, dict)
    assert deal["process"] == "saas"
    assert deal["qualification"]["meddic"]["identify_pain"]["value"] == "Reports take 2 days"
    assert workspace("lead", "create", "Lou", "--process", "saas") == 0
    assert workspace("lead", "recycle", "L-2", "--reason", "bored", "--until", "2099-01-01") == 2
    assert "'bored' is not a nurture reason" in workspace.err
    assert workspace("lead", "recycle", "L-2", "--reason", "timing", "--until", "nope") == 2
    assert workspace("lead", "create", "Hot", "--process", "saas", "--source", "demo_request") == 0
    listed = workspace.json("lead", "list", "--by-score")
    assert isinstance(listed, list)
    assert [x["id"] for x in listed] == ["L-3", "L-2"]  # type: ignore[index]
    until = (date.today() + timedelta(days=30)).isoformat()
    assert workspace("lead", "recycle", "L-2", "--reason", "timing", "--until", until) == 0
    parked = workspace.json("lead", "list", "--status", "nurture")
    assert [(x["id"], x["reengage_on"]) for x in parked] == [("L-2", until)]  # type: ignore[index]


def test_two_workers_reopen_each_due_lead_once(
    learn: UowFactory, engine: Engine, clock: Clock, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time; the row locks that share the work are PostgreSQL's")
    ids = [capture(learn, name=f"Lead {n}") for n in range(60)]
    for lead_id in ids:
        with learn() as uow:
            sl.recycle(uow=uow, actor_id="ben", lead_id=lead_id, reason="timing", until=date(2026, 3, 9))
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def work() -> None:
        barrier.wait()
        counts.append(lead_scoring.reopen_nurtured(engine, clock.now + timedelta(days=7)))

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(counts) == len(ids)
    with engine.connect() as connection:
        reopened = connection.execute(select(t.events.c.stream).where(t.events.c.type == ev.LEAD_REOPENED)).scalars()
        assert sorted(reopened) == sorted(f"lead:{i}" for i in ids)
