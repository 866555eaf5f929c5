"""A deal starts where its process creates deals (the first stage by default); anywhere else only
by an override that names who, why and what was missing, and that inspection, review and audit show.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dealflow.analytics.audit import audit_process
from dealflow.analytics.inspection import inspect_deals
from dealflow.analytics.review import agenda, review_deal
from dealflow.analytics.scope import Scope
from dealflow.cli.app import run
from dealflow.domain import events as ev
from dealflow.errors import Forbidden, GateRefused
from dealflow.services import deals as sd
from dealflow.store import tables as t
from dealflow.store.processes import load_process

from .conftest import Api

V1 = "/api/v1"


def test_an_sdr_cannot_create_a_deal_in_closing_through_the_api(api: Api) -> None:
    before = api.count()
    answer = api.client("ada").post(f"{V1}/deals", json={"title": "Acme", "stage": "closing"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert "cannot start in Closing" in error["message"]
    assert "Prospecting" in error["message"]  # where the process does create deals
    assert error["reasons"]  # what the stages it would jump over ask for
    overridden = api.client("ada").post(
        f"{V1}/deals", json={"title": "Acme", "stage": "closing", "override": True, "reason": "Signed already"}
    )
    assert overridden.status_code == 403, overridden.text
    assert "only a manager or revops or admin may create a deal in Closing" in overridden.json()["error"]["message"]
    assert api.count() == before


def test_the_command_line_gives_the_same_answers(
    api: Api, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["deal", "create", "Acme", "--stage", "closing", "--db", database_url]
    assert run([*base, "--as", "ada"]) == 3
    assert "cannot start in Closing" in capsys.readouterr().err
    assert run([*base, "--override", "--reason", "Signed already", "--as", "ada"]) == 5
    assert run([*base, "--override", "--as", "max"]) != 0  # an override needs a reason
    assert "needs a written reason" in capsys.readouterr().err
    assert run([*base, "--override", "--reason", "Signed already", "--as", "max"]) == 0
    assert "in closing" in capsys.readouterr().out


def test_a_manager_override_records_who_why_and_what_was_missing(api: Api) -> None:
    answer = api.client("max").post(
        f"{V1}/deals",
        json={"title": "Acme", "stage": "closing", "owner": "ada", "override": True, "reason": "Moved from old CRM"},
    )
    assert answer.status_code == 201, answer.text
    deal_id = answer.json()["id"]
    with api.uow() as uow:
        created = uow.connection.execute(
            select(t.events.c.actor, t.events.c.data).where(
                t.events.c.stream == ev.deal_stream(deal_id), t.events.c.type == ev.DEAL_CREATED
            )
        ).one()
        findings = {f.deal_id: f for f in inspect_deals(uow.connection, now=api.clock.now)}
        review = review_deal(uow.connection, deal_id=deal_id, now=api.clock.now)
        process = load_process(uow.connection, key="standard")
        audit = audit_process(uow.connection, Scope(process=process, period=None, now=api.clock.now), top=5)
    assert created.actor == "max"
    assert created.data["override"] is True
    assert created.data["reason"] == "Moved from old CRM"
    # What the stages it jumped over ask for, and Closing's own entry: every one recorded.
    assert any("conversation" in u for u in created.data["unmet"])
    assert len(created.data["unmet"]) >= 5
    assert "entered_by_override" in {r.code for r in findings[deal_id].reasons}
    assert review.moves[0].kind == "created"
    assert review.moves[0].unmet == tuple(created.data["unmet"])
    answers = [a.text for item in agenda(review, process) for a in item.answers]
    assert any("created it in Closing" in text and "Moved from old CRM" in text for text in answers)
    start = {e.target: e for e in audit.edges if e.kind == "start"}
    assert start["closing"].not_allowed == 1


def test_a_deal_in_the_first_stage_needs_no_override(api: Api) -> None:
    with api.uow() as uow:
        deal = sd.create_deal(uow=uow, actor_id="ada", process_key=None, title="Acme")
        findings = {f.deal_id: f for f in inspect_deals(uow.connection, now=api.clock.now)}
        process = load_process(uow.connection, key="standard")
        audit = audit_process(uow.connection, Scope(process=process, period=None, now=api.clock.now), top=5)
    assert deal.stage == "prospecting"
    assert deal.entered_by == "gate"
    assert "entered_by_override" not in {r.code for r in findings[deal.id].reasons}
    assert [e.not_allowed for e in audit.edges if e.kind == "start"] == [0]


def test_a_refused_creation_writes_nothing(api: Api) -> None:
    before = api.count()
    with pytest.raises(GateRefused), api.uow() as uow:
        sd.create_deal(uow=uow, actor_id="max", process_key=None, title="Acme", stage="discovery")
    with pytest.raises(Forbidden), api.uow() as uow:
        sd.create_deal(
            uow=uow, actor_id="ben", process_key=None, title="Acme", stage="discovery", override=True, reason="x"
        )
    assert api.count() == before
