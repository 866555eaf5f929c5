"""In a real browser: logging in through the form, and dragging a deal across a gate on the board."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from dealflow.services import deals as sd
from dealflow.store.unit_of_work import UnitOfWork

from .conftest import FRESH_DEAL, PASSWORD, Live, log_in, shoot

pytestmark = pytest.mark.browser


def drag(page: Page, card: Locator, target: Locator) -> None:
    """Drag ``card`` into the list ``target`` as a hand would: press, move in steps, release."""
    card.scroll_into_view_if_needed()
    start = card.bounding_box()
    end = target.bounding_box()
    assert start is not None
    assert end is not None
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + start["height"] / 2 + 10, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 20, steps=20)
    page.mouse.up()


def test_logging_in_through_the_form_opens_the_board(page: Page) -> None:
    page.goto("/board")
    expect(page).to_have_url(re.compile(r"/login\?next=/board$"))
    page.fill("#user", "sam")
    page.fill("#password", "not the password")
    page.click("[data-test=login-submit]")
    expect(page.locator("[data-test=login-error]")).to_contain_text("wrong user name or password")
    page.fill("#password", PASSWORD)
    page.click("[data-test=login-submit]")
    expect(page).to_have_url(re.compile(r"/board$"))
    expect(page.locator("[data-test=me]")).to_have_text("Sam Patel")
    expect(page.locator("[data-test=column-prospecting]")).to_be_visible()
    assert {c["name"] for c in page.context.cookies()} == {"dealflow_session"}


def test_a_drag_across_a_gate_stays_put_lists_what_is_missing_then_moves_once_it_is_filled(
    page: Page, live: Live
) -> None:
    deal = live.deal_titled(FRESH_DEAL)
    with UnitOfWork(live.engine) as uow:
        _deal, _process, gate = sd.check_gate(uow=uow, deal_id=deal.id, to="qualification")
    assert gate is not None
    missing = [str(u) for u in gate.unmet]
    assert len(missing) == 3  # the lead source, a call, a next step
    log_in(page, live, "sam")
    card = page.locator(f"[data-test=card-{deal.id}]")
    prospecting, qualification = page.locator("#cards-prospecting"), page.locator("#cards-qualification")
    expect(prospecting.locator(f"#card-{deal.id}")).to_be_visible()
    in_qualification = qualification.locator("li.card").count()
    before = live.events()

    drag(page, card, qualification)

    panel = page.locator("[data-test=missing-evidence]")
    expect(panel).to_be_visible()
    expect(panel.locator("h2")).to_contain_text(f"{FRESH_DEAL} cannot move to Qualification yet")
    expect(panel.locator("[data-test=unmet] li")).to_have_text(missing)
    # The card went back to its column; nothing was written.
    expect(prospecting.locator(f"#card-{deal.id}")).to_be_visible()
    expect(qualification.locator("li.card")).to_have_count(in_qualification)
    assert live.events() == before
    assert live.deal(deal.id).stage == "prospecting"

    # Exactly the inputs for what is missing, in place: the source, the next step, the call.
    inputs = panel.locator("[data-test^=missing-]:not([data-test=missing-form])")
    expect(inputs).to_have_count(3)
    shoot(page, "board-missing-evidence")
    panel.locator("[data-test=missing-field-source] select").select_option("referral")
    panel.locator("input[name=next_action]").fill("Qualification call with the COO")
    panel.locator("input[name=next_due]").fill("2030-01-15")
    panel.locator("input[name=activity_summary]").fill("First call: pain confirmed")
    with page.expect_navigation():
        panel.locator("[data-test=retry-move]").click()

    expect(page.locator(f"#cards-qualification #card-{deal.id}")).to_be_visible()
    expect(page.locator(f"#cards-prospecting #card-{deal.id}")).to_have_count(0)
    expect(page.locator("[data-test=missing-evidence]")).to_have_count(0)
    moved = live.deal(deal.id)
    assert moved.stage == "qualification"
    assert moved.value("source") == "referral"
    assert moved.next_step is not None
    assert moved.next_step.action == "Qualification call with the COO"
    answer = page.request.get(f"/api/v1/deals/{deal.id}")
    assert answer.ok, answer.text()
    assert answer.json()["stage"] == "qualification"
