"""A wrong close is not permanent: a manager of the deal's team reopens it with a reason; the deal
goes back to the stage it closed in, and metrics count it as reopened, not as a new deal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from dealflow.analytics.metrics import compute_metrics
from dealflow.cli.app import run
from dealflow.domain import commands as cmds
from dealflow.domain import events as ev
from dealflow.domain.deals import evolve
from dealflow.domain.decisions import Actor, Refusal, event
from dealflow.domain.outcomes import reopen_deal
from dealflow.process.loading import load_template
from dealflow.services import deals as sd
from dealflow.store import tables as t

from .conftest import Api

V1 = "/api/v1"


def lost_deal(api: Api) -> str:
    with api.uow() as uow:
        deal = sd.create_deal(uow=uow, actor_id="ada", process_key=None, title="Acme: 40 seats")
    with api.uow() as uow:
        sd.close_deal(uow=uow, actor_id="ada", deal_id=deal.id, outcome="lost", reason="timing")
    return deal.id


def test_a_manager_reopens_a_lost_deal_and_metrics_count_it_as_reopened(api: Api) -> None:
    deal_id = lost_deal(api)
    answer = api.client("max").post(f"{V1}/deals/{deal_id}/reopen", json={"reason": "Lost by mistake"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "open"
    assert answer.json()["stage"] == "prospecting"
    with api.uow() as uow:
        row = uow.connection.execute(select(t.reopenings)).one()
        metrics = compute_metrics(
            uow.connection, process=None, period=None, slice_by=None, filters={}, now=api.clock.now, target=None
        )
        deals = uow.connection.execute(select(t.deals.c.status, t.deals.c.closed_at)).all()
    assert (row.deal_id, row.from_status, row.actor, row.reason) == (deal_id, "lost", "max", "Lost by mistake")
    assert metrics.deals_reopened == 1
    assert metrics.deals_lost == 0
    assert metrics.deals_open == 1  # the same deal, not a second one
    assert [tuple(d) for d in deals] == [("open", None)]


@pytest.mark.parametrize(
    ("actor", "body", "status", "words"),
    [
        ("ada", {"reason": "Mine"}, 403, "only a manager or revops or admin may reopen"),
        ("wes", {"reason": "West"}, 403, "not yours to change"),
        ("max", {"reason": "   "}, 422, "say why"),
        ("max", {"reason": "Back", "stage": "follow_up"}, 422, "not a sales stage"),
    ],
)
def test_a_refused_reopen_writes_nothing(api: Api, actor: str, body: dict[str, str], status: int, words: str) -> None:
    deal_id = lost_deal(api)
    before = api.count()
    answer = api.client(actor).post(f"{V1}/deals/{deal_id}/reopen", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]
    assert api.count() == before


def test_an_open_deal_is_not_reopened(api: Api) -> None:
    with api.uow() as uow:
        deal = sd.create_deal(uow=uow, actor_id="ada", process_key=None, title="Acme")
    answer = api.client("max").post(f"{V1}/deals/{deal.id}/reopen", json={"reason": "Why not"})
    assert answer.status_code == 422
    assert "only a won, lost or disqualified deal" in answer.json()["error"]["message"]


def test_the_command_line_reopens_in_a_named_stage(
    api: Api, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    deal_id = lost_deal(api)
    base = ["deal", "reopen", deal_id, "--reason", "Budget came back", "--db", database_url]
    assert run([*base, "--as", "ada"]) == 5
    assert run([*base, "--stage", "qualification", "--as", "max"]) == 0, capsys.readouterr().err
    assert f"{deal_id} reopened in qualification" in capsys.readouterr().out


def test_a_won_deal_gone_on_to_follow_up_reopens_in_the_stage_it_was_won_from() -> None:
    process = load_template("standard")[0]
    now = datetime(2026, 3, 2, tzinfo=UTC)
    rep, manager = Actor("ada", ("ae",)), Actor("max", ("manager",))
    stream = ev.deal_stream("D-1")
    history = [
        event(ev.DEAL_CREATED, stream, rep, now, title="Acme", process="standard", process_version=process.version,
              account_id=None, owner="ada", stage="closing", fields={"title": "Acme"}),
        event(ev.DEAL_WON, stream, rep, now, reason="price", stage="closing"),
        event(ev.DEAL_MOVED, stream, rep, now, **{"from": "closing", "to": "follow_up", "kind": "forward",
                                                   "reason": None, "override": False}),
    ]  # fmt: skip
    deal = None
    for e in history:
        deal = evolve(deal, e)
    assert deal is not None
    assert (deal.status, deal.stage) == ("won", "follow_up")
    decision = reopen_deal(deal, cmds.ReopenDeal(reason="Contract not signed"), process=process, actor=manager, now=now)
    assert not isinstance(decision, Refusal)
    after = evolve(deal, decision[0])
    assert (after.status, after.stage, after.closed_at, after.outcome_reason) == ("open", "closing", None, None)
