"""In a real browser: accepting a handoff from the inbox, another team's deal refused, forged forms refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from dealflow.store import queries
from dealflow.store.unit_of_work import UnitOfWork

from .conftest import FRESH_DEAL, WEST_DEAL, Live, log_in, shoot

pytestmark = pytest.mark.browser


def _pending_to(live: Live, user: str) -> list[str]:
    """The ids of the handoffs waiting on ``user``, as the database holds them."""
    with UnitOfWork(live.engine) as uow:
        return [h.id for h in queries.list_handoffs(uow.connection) if h.to_owner == user and h.status == "pending"]


def test_accepting_a_handoff_makes_it_yours_and_takes_it_out_of_the_inbox(page: Page, live: Live) -> None:
    pending = _pending_to(live, "chris")
    assert pending, "the demo hands won deals to customer success"
    log_in(page, live, "chris", next_path="/inbox")
    mine = page.locator("[data-test=inbox-mine] article.handoff")
    expect(mine).to_have_count(len(pending))
    first = mine.first
    handoff_id = (first.get_attribute("data-test") or "").removeprefix("handoff-")
    assert handoff_id in pending
    deal_id = handoff_id.rsplit("-H", 1)[0]
    assert live.deal(deal_id).owner != "chris"
    expect(first.locator("[data-test=handoff-context]")).to_be_visible()
    shoot(page, "inbox")

    first.locator(f"[data-test='accept-{handoff_id}']").click()

    page.wait_for_url(f"**/deals/{deal_id}")
    expect(page.locator("[data-test=deal-title]")).to_be_visible()
    expect(page.locator(".deal .meta")).to_contain_text("owner chris")
    expect(page.locator("[data-test=event]").first).to_contain_text("Handoff accepted by chris")
    deal = live.deal(deal_id)
    assert deal.owner == "chris"
    assert handoff_id not in _pending_to(live, "chris")
    page.click("[data-test=nav-inbox]")
    expect(page.locator(f"[data-test='handoff-{handoff_id}']")).to_have_count(0)
    expect(mine).to_have_count(len(pending) - 1)


@pytest.mark.parametrize(("user", "scope"), [("sam", "only your own deals"), ("morgan", "the deals of team east")])
def test_another_teams_deal_is_refused_with_the_reason_and_absent_from_the_board(
    page: Page, live: Live, user: str, scope: str
) -> None:
    west = live.deal_titled(WEST_DEAL)
    log_in(page, live, user)
    expect(page.locator("[data-test=board] li.card").first).to_be_visible()
    expect(page.locator(f"[data-test='card-{west.id}']")).to_have_count(0)
    expect(page.locator("[data-test=board]")).not_to_contain_text(WEST_DEAL)

    answer = page.goto(f"/deals/{west.id}")
    assert answer is not None
    assert answer.status == 403
    expect(page.locator("[data-test=error]")).to_contain_text(f"deal {west.id} is not yours to see: you see {scope}")
    expect(page.locator("[data-test=error]")).to_contain_text(f"(only {west.owner}, a manager of team west")
    expect(page.locator("body")).not_to_contain_text(WEST_DEAL)
    shoot(page, f"forbidden-{user}")

    answer = page.goto(f"/board?owner={west.owner}")
    assert answer is not None
    assert answer.status == 403
    expect(page.locator("[data-test=error]")).to_contain_text("is not yours to see")


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        ("input.value = 'forged-token'", "the CSRF token does not match your session"),
        ("input.remove()", "missing CSRF token"),
    ],
    ids=["forged", "missing"],
)
def test_a_form_posted_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    page: Page, live: Live, forge: str, reason: str
) -> None:
    deal = live.deal_titled(FRESH_DEAL)
    log_in(page, live, "sam", next_path=f"/deals/{deal.id}")
    before = live.events()
    form = page.locator("[data-test=next-step-form]")
    form.locator("#next-action").fill("Call the CFO")
    form.locator("#next-due").fill("2030-02-01")
    form.locator("input[name=csrf_token]").evaluate(f"input => {{ {forge}; }}")

    with page.expect_response(f"**/deals/{deal.id}/next-step") as posted:
        form.locator("[data-test=next-step-submit]").click()

    assert posted.value.status == 403
    expect(page.locator("[data-test=error]")).to_contain_text(reason)
    assert live.events() == before
    assert live.deal(deal.id).next_step is None
    # The session itself is untouched: the same page still opens, the next step still unset.
    page.goto(f"/deals/{deal.id}")
    expect(page.locator("[data-test=next-step]")).to_contain_text("No next step.")
