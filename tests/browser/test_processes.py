"""RevOps chooses the workspace's default process in the browser; the board follows it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from dealflow.process.loading import load_template
from dealflow.services import workspace as ws
from dealflow.store.unit_of_work import UnitOfWork

from .conftest import Live, log_in, shoot

pytestmark = pytest.mark.browser


def test_revops_makes_an_imported_process_the_default_and_the_board_follows(page: Page, live: Live) -> None:
    with UnitOfWork(live.engine) as uow:
        ws.install_process(uow=uow, source=load_template("saas")[1], name="saas.yaml", actor_id="alex")
    log_in(page, live, "alex", next_path="/processes")
    expect(page.locator("[data-test=default-process]")).to_be_visible()  # standard, the demo's first
    expect(page.locator("select[name=key] option:checked")).to_have_text("Standard seven stages (default)")
    page.goto("/processes?key=saas")
    expect(page.locator("[data-test=default-process]")).to_have_count(0)
    shoot(page, "process-not-default")
    page.click("[data-test=make-default] button")
    page.wait_for_url("**/processes?key=saas")
    expect(page.locator("[data-test=default-process]")).to_be_visible()
    shoot(page, "process-default")
    page.goto("/board")
    expect(page.locator("#cards-inbound_capture")).to_be_attached()
