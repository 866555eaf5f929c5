"""A visitor fills in the demo's website form in the browser; the SDR it was routed to finds the lead,
reads its scores and next touch, and records a reply, which ends the lead's cadence. Screenshots of
the form and the lead's page go to test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from dealflow.store import tables as t

from .conftest import Live, log_in, overflowing, shoot

pytestmark = pytest.mark.browser


def test_a_visitor_posts_the_form_and_the_routed_sdr_works_the_lead(page: Page, live: Live) -> None:
    page.goto("/intake/website")
    form = page.locator("[data-test=intake-form]")
    expect(form).to_be_visible()
    trap = form.locator(".hp").bounding_box()  # the honeypot: off the screen, for bots only
    assert trap is not None
    assert trap["x"] + trap["width"] <= 0
    form.locator("input[name=name]").fill("Nina <b>Park</b>")
    form.locator("input[name=email]").fill("nina@lumen-labs.io")
    form.locator("input[name=company]").fill("Lumen Labs")
    form.locator("select[name=region]").select_option("west")
    form.locator("input[name=company_size]").fill("80")
    form.locator("textarea[name=message]").fill("Could we see a demo next week?")
    assert overflowing(page) == []
    shoot(page, "intake-form")
    form.locator("[data-test=intake-submit]").click()
    expect(page.locator("[data-test=intake-thanks]")).to_contain_text("Thank you, Nina <b>Park</b>")

    with live.engine.connect() as connection:
        lead = connection.execute(select(t.leads).where(t.leads.c.email == "nina@lumen-labs.io")).one()
    assert lead.owner == "lena"  # the west team's SDR

    log_in(page, live, "lena", next_path="/leads")
    row = page.locator(f"[data-test=lead-{lead.id}]")
    expect(row).to_be_visible()
    row.locator("a").click()
    expect(page.locator("[data-test=lead-title]")).to_have_text("Lumen Labs")
    expect(page.locator("[data-test=factor]").first).to_be_visible()
    expect(page.locator("[data-test=next-touch-template]")).to_be_visible()
    assert overflowing(page) == []
    shoot(page, "lead")

    page.locator("[data-test=touch-reply]").click()
    expect(page.locator("[data-test=next-touch-none]")).to_be_visible()
    expect(page.locator("[data-test=timeline]")).to_contain_text("Touch done by lena")
