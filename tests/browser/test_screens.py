"""The pages as a manager sees them on a desktop and on a phone, saved as screenshots under test-artifacts/.

Besides the pictures (for a person to look at), each page is checked for what breaks a layout:
nothing wider than the window but the board's own sideways-scrolling columns.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import Live, log_in, overflowing, shoot

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser, live: Live) -> Iterator[Page]:
    """A page in a fresh context the size of a phone held upright, with touch."""
    context = browser.new_context(base_url=live.url, viewport=PHONE, is_mobile=True, has_touch=True)
    opened = context.new_page()
    yield opened
    context.close()


def test_board_deal_and_dashboard_on_a_desktop(page: Page, live: Live) -> None:
    log_in(page, live, "morgan")
    cards = page.locator("[data-test=board] li.card")
    expect(cards.first).to_be_visible()
    assert cards.count() == live.open_deals_of_team("east")  # the whole east team's open pipeline, no other
    assert overflowing(page) == []
    shoot(page, "board")

    deal = live.deal(page.locator("#cards-discovery li.card").first.get_attribute("data-deal") or "")
    page.goto(f"/deals/{deal.id}")
    expect(page.locator("[data-test=deal-title]")).to_have_text(deal.title)
    expect(page.locator("[data-test=criterion]").first).to_be_visible()
    assert overflowing(page) == []
    shoot(page, "deal")

    page.goto("/dashboards")
    expect(page.locator("[data-test=chart-funnel] rect.bar").first).to_be_visible()
    assert overflowing(page) == []
    shoot(page, "dashboard")


def test_board_and_deal_at_phone_width(phone: Page, live: Live) -> None:
    log_in(phone, live, "morgan")
    expect(phone.locator("[data-test=board] li.card").first).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert overflowing(phone) == []
    shoot(phone, "board-phone")

    phone.locator("[data-test=board] li.card .title").first.click()
    expect(phone.locator("[data-test=deal-title]")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert overflowing(phone) == []
    shoot(phone, "deal-phone")
