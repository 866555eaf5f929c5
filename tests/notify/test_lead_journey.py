"""A lead's whole way in the demo workspace, as a new user follows it: posted through the demo's
website form, scored, routed to an SDR of the right team, given a cadence, mailed to its owner by the
worker, qualified with BANT, turned into a deal at the conversion gate, and handed to an AE with
its context; in the command line and the web app, on both databases, with a real SMTP server."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from dealflow.cli.access import DEMO_PASSWORD
from dealflow.server.app import create_app
from dealflow.services import auth
from dealflow.settings import Settings

from ..integration.conftest import Cli
from .conftest import Mailbox, body_of

EAST_SDRS = {"sam", "sofia"}
POST = {
    "name": "Ann Lee",
    "email": "ann@acme-robotics.io",
    "company": "Acme Robotics",
    "region": "east",
    "company_size": "120",
    "message": "We need a demo before Q1",
}


def lead_named(cli: Cli, name: str) -> dict[str, Any]:
    leads = cli.json("lead", "list", "--status", "all")
    assert isinstance(leads, list)
    (found,) = [lead for lead in leads if lead["name"] == name]
    return dict(found)


def browser(app: Any, user: str) -> TestClient:
    with app.state.workspace.unit() as uow:
        auth.set_password(uow=uow, user_id=user, password=DEMO_PASSWORD)
    client = TestClient(app)
    answer = client.post("/login", data={"user": user, "password": DEMO_PASSWORD}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def test_a_posted_lead_goes_from_the_demo_form_to_an_accepted_handoff(
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    engine: Engine,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = Cli(capsys, database_url)
    assert cli("demo", "--deals", "24") == 0, cli.err
    app = create_app(Settings(database_url=database_url), engine=engine)
    public = TestClient(app)

    # The form a website embeds, posted by a visitor.
    form = public.get("/intake/website")
    assert form.status_code == 200
    thanks = public.post("/intake/website", data=POST)
    assert thanks.status_code == 200
    assert "Thank you, Ann Lee" in thanks.text

    # Scored and routed to an SDR of the east team, with a speed-to-lead deadline.
    lead = lead_named(cli, "Ann Lee")
    lead_id, sdr = lead["id"], lead["owner"]
    assert sdr in EAST_SDRS
    assert (lead["source"], lead["form"], lead["status"]) == ("inbound", "website", "open")
    assert lead["fit_score"] > 0
    assert lead["intent_score"] >= 25  # asked to talk to sales
    assert lead["sla_due_at"] is not None
    shown = cli.json("lead", "show", lead_id)
    assert isinstance(shown, dict)
    assert {"Company of 50 people or more", "Business email address"} <= {f["rule"] for f in shown["scores"]["factors"]}

    # Posted again: no second lead, more intent.
    assert public.post("/api/v1/intake/website", json=POST).status_code == 200
    again = lead_named(cli, "Ann Lee")
    assert again["id"] == lead_id
    assert again["intent_score"] > lead["intent_score"]

    # The SDR's day holds the first touch of the lead's cadence; the worker mails the SDR.
    day = cli.json("day", "--as", sdr)
    assert isinstance(day, list)
    assert [(t["id"], t["step"]) for t in day if t["id"] == lead_id] == [(lead_id, 1)]
    monkeypatch.setenv("DEALFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DEALFLOW_SMTP_PORT", str(mailbox.port))
    assert cli("worker", "--once") == 0, cli.err
    (mail,) = [m for m in mailbox.messages if m["To"] == f"{sdr}@example.com" and "Ann Lee" in m["Subject"]]
    assert mail["Subject"].startswith("New lead for you")
    assert lead_id in body_of(mail)

    # On the lead's page: the scores, the next touch; the touch recorded there stops the cadence.
    rep = browser(app, sdr)
    page = rep.get(f"/leads/{lead_id}")
    assert page.status_code == 200
    assert 'data-test="lead-scores"' in page.text
    assert 'data-test="next-touch-template"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    replied = rep.post(
        f"/touches/lead:{lead_id}",
        data={"csrf_token": token.group(1), "outcome": "reply", "note": "Call me Tuesday", "back": f"/leads/{lead_id}"},
        follow_redirects=False,
    )
    assert replied.status_code == 303
    assert 'data-test="next-touch-none"' in rep.get(f"/leads/{lead_id}").text

    # Qualification: the conversion gate refuses until BANT has something confirmed.
    assert cli("lead", "convert", lead_id, "--as", sdr) == 3
    assert "Nothing of BANT confirmed yet" in cli.err
    for element in ("need", "budget", "timeline"):
        assert cli("lead", "qualify", lead_id, element, "--note", f"{element} heard on the call", "--as", sdr) == 0
    assert cli("lead", "convert", lead_id, "--as", sdr) == 0, cli.err
    deal_id = re.search(r"converted into (D-\d+)", cli.out)
    assert deal_id is not None
    deal = deal_id.group(1)
    assert lead_named(cli, "Ann Lee")["status"] == "converted"

    # The SDR works the deal to discovery, where an AE takes over through a handoff with the context.
    steps = [
        ("activity", "log", deal, "call", "First call with Ann"),
        ("next-step", "set", deal, "Qualification call", "--due", "+2d", "--confirmed"),
        ("deal", "move", deal, "qualification"),
        (
            "deal",
            "update",
            deal,
            "-f",
            "pain=Reports take two days a month",
            "-f",
            "urgency=high",
            "-f",
            "budget=50000",
        ),
        ("next-step", "set", deal, "Discovery with the COO", "--due", "+3d", "--confirmed"),  # this stage's own
        ("deal", "move", deal, "discovery", "--to", "ava"),
    ]
    for step in steps:
        assert cli(*step, "--as", sdr) == 0, (step, cli.err)
    handoffs = cli.json("handoff", "list")
    assert isinstance(handoffs, list)
    (handoff,) = [h for h in handoffs if h["deal_id"] == deal]
    assert (handoff["from_owner"], handoff["to_owner"]) == (sdr, "ava")
    assert sorted(handoff["context"]["qualification"]["bant"]) == ["budget", "need", "timeline"]
    assert handoff["context"]["pain"] == "Reports take two days a month"
    assert cli("handoff", "accept", handoff["id"], "--as", "ava") == 0, cli.err

    # The AE was mailed about the handoff; the deal is hers now.
    assert cli("worker", "--once") == 0, cli.err
    assert any(m["To"] == "ava@example.com" and m["Subject"].startswith("Handoff to accept") for m in mailbox.messages)
    shown_deal = cli.json("deal", "show", deal)
    assert isinstance(shown_deal, dict)
    assert (shown_deal["owner"], shown_deal["stage"]) == ("ava", "discovery")
