"""The pages through the HTTP client on both backends: what each shows, moves on evidence, and refusals."""

from __future__ import annotations

import html

import pytest

from dealflow.domain.gates import exit_gate
from dealflow.process.loading import load_template
from dealflow.services import deals as sd
from dealflow.services import workspace as ws
from dealflow.store.processes import load_process

from .conftest import Site, parse

NEXT_WEEK = "2026-03-09"


def test_login_page_refuses_a_wrong_password_and_sets_no_cookie(site: Site) -> None:
    client = site.browser()
    assert "login-form" in parse(client.get("/login").text).tests
    answer = client.post("/login", data={"user": "ben", "password": "not the password"})
    assert answer.status_code == 401
    assert "wrong user name or password" in answer.text
    assert "dealflow_session" not in client.cookies
    assert client.get("/board").headers["location"] == "/login?next=/board"


def test_every_page_renders_for_a_logged_in_rep(site: Site) -> None:
    deal = site.deal("ben", "Globex renewal", fields={"amount": "12000"})
    client = site.browser("ben")
    board = client.get("/board")
    assert board.status_code == 200
    markers = parse(board.text).tests
    assert f"card-{deal.id}" in markers
    assert "column-prospecting" in markers
    assert "Globex renewal" in board.text
    page = client.get(f"/deals/{deal.id}")
    assert page.status_code == 200
    assert {"gate", "next-step", "timeline", "move-form"} <= set(parse(page.text).tests)
    assert "deal.created" in page.text.lower() or "created" in page.text.lower()
    for path, marker in [
        ("/day", "day-without"),
        ("/inbox", "inbox-mine"),
        ("/inspection", "inspection"),
        ("/dashboards", "chart-funnel"),
        ("/processes", "process-diagram"),
    ]:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert marker in parse(answer.text).tests, path
    assert "Globex renewal" in client.get("/day").text


def test_board_counts_and_sums_each_column(site: Site) -> None:
    site.deal("ben", "One", fields={"amount": "1000"})
    site.deal("ben", "Two", fields={"amount": "2500"})
    board = site.browser("ben").get("/board").text
    assert 'data-test="count-prospecting">2<' in board
    assert 'data-test="amount-prospecting">3,500<' in board


def _gate_reasons(site: Site, deal_id: str, to: str) -> list[str]:
    """The unmet criteria as the gate states them (what the API's 422 lists)."""
    with site.uow() as uow:
        deal, _process, gate = sd.check_gate(uow=uow, deal_id=deal_id, to=to)
        process = load_process(uow.connection, key=deal.process, version=deal.process_version)
        assert gate is not None
        assert [str(u) for u in gate.unmet] == [str(u) for u in exit_gate(deal, process, to, uow.clock()).unmet]
    return [str(u) for u in gate.unmet]


def test_a_refused_move_returns_the_missing_evidence_panel_and_writes_nothing(site: Site) -> None:
    deal = site.deal("ada")
    client = site.browser("ada")
    headers = {"X-CSRF-Token": site.csrf(client), "HX-Request": "true"}
    before = site.events()
    answer = client.post(f"/deals/{deal.id}/move", data={"to": "qualification"}, headers=headers)
    assert answer.status_code == 422
    reasons = _gate_reasons(site, deal.id, "qualification")
    assert len(reasons) == 3
    panel = parse(answer.text)
    assert "missing-evidence" in panel.tests
    for reason in reasons:
        assert reason in answer.text
    # The inputs to supply the evidence in place: the required field, the next step, the call.
    assert {"missing-field-source", "missing-next-step", "missing-activity"} <= set(panel.tests)
    assert {"next_action", "next_due", "activity_summary"} <= set(panel.values)
    assert '<select name="field.source">' in answer.text
    assert site.events() == before
    assert site.load(deal.id).stage == "prospecting"


def test_filling_the_missing_evidence_in_the_panel_lets_the_move_through(site: Site) -> None:
    deal = site.deal("ada")
    client = site.browser("ada")
    headers = {"X-CSRF-Token": site.csrf(client), "HX-Request": "true"}
    form = {
        "to": "qualification",
        "field.source": "inbound",
        "next_action": "Qualification call",
        "next_due": NEXT_WEEK,
        "activity_kind": "call",
        "activity_summary": "First conversation",
    }
    answer = client.post(f"/deals/{deal.id}/move", data=form, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["HX-Refresh"] == "true"
    moved = site.load(deal.id)
    assert moved.stage == "qualification"
    assert moved.value("source") == "inbound"
    assert moved.next_step is not None
    assert moved.next_step.action == "Qualification call"


def test_evidence_filled_in_part_is_kept_and_the_panel_lists_what_is_still_missing(site: Site) -> None:
    deal = site.deal("ada")
    client = site.browser("ada")
    headers = {"X-CSRF-Token": site.csrf(client), "HX-Request": "true"}
    answer = client.post(
        f"/deals/{deal.id}/move", data={"to": "qualification", "field.source": "referral"}, headers=headers
    )
    assert answer.status_code == 422
    assert site.load(deal.id).value("source") == "referral"
    assert "missing-field-source" not in parse(answer.text).tests
    for reason in _gate_reasons(site, deal.id, "qualification"):
        assert reason in answer.text


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_a_change_without_the_session_csrf_token_is_refused_and_writes_nothing(site: Site, token: str | None) -> None:
    deal = site.deal("ada")
    client = site.browser("ada")
    headers = {"X-CSRF-Token": token} if token else {}
    before = site.events()
    form = {"to": "qualification", "field.source": "inbound"}
    assert client.post(f"/deals/{deal.id}/move", data=form, headers=headers).status_code == 403
    step = {"next_action": "Call", "next_due": NEXT_WEEK, **({"csrf_token": token} if token else {})}
    assert client.post(f"/deals/{deal.id}/next-step", data=step).status_code == 403
    assert client.post("/logout", data={"csrf_token": token or ""}).status_code == 403
    assert site.events() == before
    assert site.load(deal.id).value("source") is None


def test_forms_carry_the_session_csrf_token(site: Site) -> None:
    deal = site.deal("ada")
    client = site.browser("ada")
    page = client.get(f"/deals/{deal.id}").text
    token = parse(page).values["csrf_token"]
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page
    step = {"next_action": "Send the recap", "next_due": NEXT_WEEK, "csrf_token": token}
    answer = client.post(f"/deals/{deal.id}/next-step", data=step)
    assert answer.status_code == 303
    step_set = site.load(deal.id).next_step
    assert step_set is not None
    assert step_set.action == "Send the recap"
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/board").status_code == 303


def test_script_in_a_deal_title_is_shown_as_text(site: Site) -> None:
    deal = site.deal("ben", '<script>alert("x")</script><b>Bold</b>')
    client = site.browser("ben")
    for path in ("/board", f"/deals/{deal.id}", "/day"):
        page = client.get(path).text
        assert "<script>alert(" not in page, path
        assert "<b>Bold</b>" not in page, path
        assert "&lt;script&gt;alert(" in page, path


def test_a_rep_cannot_see_or_move_another_teams_deal(site: Site) -> None:
    deal = site.deal("ben", "East deal")
    west = site.browser("cyd")
    refused = west.get(f"/deals/{deal.id}")
    assert refused.status_code == 403
    # The refusal keeps the navigation of the user who is logged in.
    assert 'data-test="me"' in refused.text
    assert 'href="/board"' in refused.text
    assert west.get("/deals/D-9999").status_code == 404
    assert west.get("/board?owner=ben").status_code == 403
    assert west.get("/board?owner=nobody").status_code == 404
    assert "East deal" not in west.get("/board").text
    before = site.events()
    headers = {"X-CSRF-Token": site.csrf(west)}
    answer = west.post(f"/deals/{deal.id}/move", data={"to": "qualification", "field.source": "x"}, headers=headers)
    assert answer.status_code == 403
    assert site.events() == before
    # A manager filters by someone in the team; a rep by nobody else, even in the same team.
    assert "East deal" in site.browser("max").get("/board?owner=ben").text
    assert site.browser("ada").get("/board?owner=ben").status_code == 403


def test_an_expired_session_goes_back_to_the_login_page(site: Site) -> None:
    client = site.browser("ben")
    assert client.get("/board").status_code == 200
    site.clock.advance(hours=9)
    answer = client.get("/inbox")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/inbox"
    htmx = client.post("/deals/D-1/move", data={"to": "qualification"}, headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/login")


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"next_action": "", "next_due": NEXT_WEEK}, "next_action"),
        ({"next_action": "Call", "next_due": "next tuesday"}, "next_due"),
        ({"next_action": "x" * 501, "next_due": NEXT_WEEK}, "next_action"),
        ({"next_action": "Call"}, "next_due"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(site: Site, form: dict[str, str], field: str) -> None:
    deal = site.deal("ada")
    client = site.browser("ada")
    before = site.events()
    answer = client.post(f"/deals/{deal.id}/next-step", data={**form, "csrf_token": site.csrf(client)})
    assert answer.status_code == 422
    assert field in answer.text
    assert site.events() == before


def test_a_malformed_field_value_in_the_panel_is_refused_before_anything_is_written(site: Site) -> None:
    deal = site.deal("ben")
    client = site.browser("ben")
    headers = {"X-CSRF-Token": site.csrf(client), "HX-Request": "true"}
    before = site.events()
    answer = client.post(
        f"/deals/{deal.id}/move", data={"to": "qualification", "field.amount": "lots"}, headers=headers
    )
    assert answer.status_code == 422
    assert "amount: not an amount" in answer.text
    assert "missing-evidence" in parse(answer.text).tests
    assert site.events() == before


def test_the_receiver_accepts_a_handoff_from_the_inbox(site: Site) -> None:
    deal = site.deal("ada", "Handed over", stage="qualification")
    with site.uow() as uow:
        sd.move_deal(
            uow=uow, actor_id="max", deal_id=deal.id, to="discovery", reason="qualified by phone", override=True
        )
    handoff = site.load(deal.id).handoff
    assert handoff is not None
    receiver = site.browser(handoff.to_owner)
    inbox = receiver.get("/inbox")
    assert f"handoff-{handoff.id}" in parse(inbox.text).tests
    assert "Handed over" in inbox.text
    assert "handoff-context" in parse(inbox.text).tests
    token = parse(inbox.text).values["csrf_token"]
    # Someone else cannot accept it.
    other = site.browser("cyd")
    assert other.post(f"/handoffs/{handoff.id}/accept", data={"csrf_token": site.csrf(other)}).status_code == 403
    answer = receiver.post(f"/handoffs/{handoff.id}/accept", data={"csrf_token": token})
    assert answer.status_code == 303
    assert site.load(deal.id).owner == handoff.to_owner
    assert f"handoff-{handoff.id}" not in parse(receiver.get("/inbox").text).tests


def test_the_receiver_sends_a_handoff_back_with_a_reason(site: Site) -> None:
    deal = site.deal("ada", "Not ready", stage="qualification")
    with site.uow() as uow:
        sd.move_deal(uow=uow, actor_id="max", deal_id=deal.id, to="discovery", reason="looks good", override=True)
    handoff = site.load(deal.id).handoff
    assert handoff is not None
    receiver = site.browser(handoff.to_owner)
    token = site.csrf(receiver)
    before = site.events()
    missing = receiver.post(f"/handoffs/{handoff.id}/return", data={"csrf_token": token, "reason": "  "})
    assert missing.status_code == 422
    assert site.events() == before
    answer = receiver.post(f"/handoffs/{handoff.id}/return", data={"csrf_token": token, "reason": "No budget yet"})
    assert answer.status_code == 303
    back = site.load(deal.id)
    assert back.owner == "ada"
    assert back.stage == "qualification"


def test_the_process_editor_validates_before_installing(site: Site) -> None:
    admin = site.browser("root")
    assert "edit-process" in parse(admin.get("/processes").text).tests
    page = admin.get("/processes/edit?key=standard")
    assert page.status_code == 200
    source = page.text.split('id="process-source"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    token = site.csrf(admin)
    before = site.events()
    broken = admin.post("/processes/check", data={"source": "key: [unclosed", "csrf_token": token})
    assert broken.status_code == 422
    assert "process-problems" in parse(broken.text).tests
    stale = admin.post("/processes/save", data={"source": "key: standard\nname: x\n", "csrf_token": token})
    assert stale.status_code == 422
    assert site.events() == before
    original = html.unescape(source)
    valid = admin.post("/processes/check", data={"source": original, "csrf_token": token})
    assert "process-valid" in parse(valid.text).tests
    same_version = admin.post("/processes/save", data={"source": original, "key": "standard", "csrf_token": token})
    assert same_version.status_code == 409
    bumped = original.replace("version: 1\n", "version: 2\n", 1)
    saved = admin.post("/processes/save", data={"source": bumped, "key": "standard", "csrf_token": token})
    assert saved.status_code == 303
    assert "v2" in admin.get("/processes?key=standard").text


def test_revops_makes_another_process_the_default_from_its_page(site: Site) -> None:
    with site.uow() as uow:
        ws.install_process(uow=uow, source=load_template("saas")[1], name="saas.yaml")
    admin, rep = site.browser("root"), site.browser("ben")
    assert "default-process" in parse(admin.get("/processes").text).tests  # standard, installed first
    assert "make-default" in parse(admin.get("/processes?key=saas").text).tests
    assert "make-default" not in parse(rep.get("/processes?key=saas").text).tests
    refused = rep.post("/processes/default", data={"key": "saas", "csrf_token": site.csrf(rep)})
    assert refused.status_code == 403
    chosen = admin.post("/processes/default", data={"key": "saas", "csrf_token": site.csrf(admin)})
    assert chosen.status_code == 303
    assert "default-process" in parse(admin.get("/processes").text).tests
    assert "Standard seven stages" not in admin.get("/processes").text.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert 'data-stage="inbound_capture"' in rep.get("/board").text


def test_a_rep_cannot_open_the_process_editor(site: Site) -> None:
    rep = site.browser("ben")
    assert "edit-process" not in parse(rep.get("/processes").text).tests
    assert rep.get("/processes/edit?key=standard").status_code == 403
    token = site.csrf(rep)
    assert rep.post("/processes/check", data={"source": "key: x", "csrf_token": token}).status_code == 403


def test_dashboards_draw_the_forecast_range_only_for_those_who_see_every_deal(site: Site) -> None:
    site.deal("ben", "Open deal", fields={"amount": "5000"})
    admin = parse(site.browser("root").get("/dashboards").text).tests
    rep = parse(site.browser("ben").get("/dashboards").text).tests
    assert {"chart-funnel", "chart-conversion", "chart-time", "chart-win-rate", "chart-forecast"} <= set(admin)
    assert "chart-win-rate" in rep
    assert "chart-forecast" not in rep
    assert "<h1>Dashboards · Standard seven stages</h1>" in site.browser("ben").get("/dashboards").text


def test_an_activity_logged_on_the_deal_page_appears_in_its_timeline(site: Site) -> None:
    deal = site.deal("ben")
    client = site.browser("ben")
    form = {"activity_kind": "call", "activity_summary": "Talked <b>budget</b>", "csrf_token": site.csrf(client)}
    assert client.post(f"/deals/{deal.id}/evidence", data=form).status_code == 303
    page = client.get(f"/deals/{deal.id}").text
    assert "<b>budget</b>" not in page
    assert "Talked &lt;b&gt;budget&lt;/b&gt;" in page
    assert len([m for m in parse(page).tests if m == "event"]) == 2
    bad = {**form, "activity_kind": "telepathy"}
    before = site.events()
    assert client.post(f"/deals/{deal.id}/evidence", data=bad).status_code == 422
    assert site.events() == before


def test_every_kind_of_missing_evidence_can_be_supplied_in_the_panel(site: Site) -> None:
    with site.uow() as uow:
        ws.add_account(uow=uow, actor_id="ben", account_id="acme", name="Acme")
    with site.uow() as uow:
        ws.add_contact(uow=uow, actor_id="ben", contact_id="c-1", name="Dana <CFO>", account_id="acme")
    deal = site.deal("ben", "Discovery deal", stage="discovery", account_id="acme")
    client = site.browser("ben")
    headers = {"X-CSRF-Token": site.csrf(client), "HX-Request": "true"}
    refused = client.post(f"/deals/{deal.id}/move", data={"to": "presentation"}, headers=headers)
    assert refused.status_code == 422
    markers = set(parse(refused.text).tests)
    assert {"missing-contact-economic_buyer", "missing-next-step", "missing-activity"} <= markers
    assert {"missing-field-use_case", "missing-field-success_criteria", "missing-field-decision_date"} <= markers
    assert 'value="c-1">Dana &lt;CFO&gt;</option>' in refused.text
    form = {
        "to": "presentation",
        "field.use_case": "Route planning",
        "field.success_criteria": "Cut planning time in half",
        "field.decision_date": "2026-04-30",
        "contact.economic_buyer": "c-1",
        "activity_kind": "meeting",
        "activity_summary": "Discovery workshop",
        "next_action": "Present the plan",
        "next_due": NEXT_WEEK,
        "next_confirmed": "on",
    }
    moved = client.post(f"/deals/{deal.id}/move", data=form, headers=headers)
    assert moved.status_code == 200, moved.text
    after = site.load(deal.id)
    assert after.stage == "presentation"
    assert [(c.contact_id, c.role) for c in after.contacts] == [("c-1", "economic_buyer")]


@pytest.mark.parametrize(
    ("stage", "to", "marker"),
    [
        ("qualification", "discovery", "missing-qualification-bant"),
        ("presentation", "objection_handling", "missing-document-proposal"),
    ],
)
def test_the_panel_offers_an_input_for_each_kind_of_evidence(site: Site, stage: str, to: str, marker: str) -> None:
    deal = site.deal("ben", stage=stage)
    client = site.browser("ben")
    headers = {"X-CSRF-Token": site.csrf(client), "HX-Request": "true"}
    refused = client.post(f"/deals/{deal.id}/move", data={"to": to}, headers=headers)
    assert refused.status_code == 422
    assert marker in parse(refused.text).tests
    for reason in _gate_reasons(site, deal.id, to):
        assert reason in refused.text
    checklist = client.get(f"/deals/{deal.id}").text
    assert marker in parse(checklist).tests


@pytest.mark.parametrize(
    ("target", "landing"), [("/inbox", "/inbox"), ("//evil.example/x", "/board"), ("https://evil.example", "/board")]
)
def test_login_returns_only_to_a_page_of_this_site(site: Site, target: str, landing: str) -> None:
    site.browser("ben")  # gives ben a password
    client = site.browser()
    answer = client.post("/login", data={"user": "ben", "password": "correct horse battery", "next": target})
    assert answer.status_code == 303
    assert answer.headers["location"] == landing


def test_bar_charts_show_counts_whole_and_missing_values_as_no_data() -> None:
    from dealflow.web.charts import bars

    chart = bars([("Closing", 7.0), ("Discovery", 4.75), ("Qualification", 24.0), ("Onboarding", None)], unit="deals")
    assert [b.shown for b in chart.bars] == ["7 deals", "4.8 deals", "24 deals", "no data"]
    assert [b.width for b in chart.bars][-1] == 0.0
    assert max(b.width for b in chart.bars) == chart.bars[2].width > 0
