"""Cadence touches on the pages: my day lists them with their template and buttons; the deal page
shows the next touch; the buttons record touches; others' touches are refused."""

from __future__ import annotations

from dealflow.services import leads as sl
from dealflow.store import cadence_tasks as tasks

from .conftest import Site, parse


def _statuses(site: Site, subject: str) -> list[str]:
    with site.engine.connect() as connection:
        return [r.status for r in tasks.subject_tasks(connection, subject=subject)]


def test_my_day_lists_due_touches_and_the_reply_button_stops_the_cadence(site: Site) -> None:
    with site.uow() as uow:
        sl.capture_lead(uow=uow, actor_id="ada", name="Jane Roe", company="Acme")
    ada = site.browser("ada")
    page = ada.get("/day")
    assert page.status_code == 200
    found = parse(page.text)
    assert "day-touches" in found.tests
    assert "touch-reply-L-1" in found.tests
    assert "Jane Roe (Acme)" in page.text
    assert "Thanks for reaching out" in page.text
    assert "touch-reply-L-1" not in parse(site.browser("ben").get("/day").text).tests
    token = site.csrf(ada)
    refused = ada.post("/touches/lead:L-1", data={"outcome": "reply"})
    assert refused.status_code in (400, 403)
    assert _statuses(site, "lead:L-1")[0] == "open"
    answer = ada.post("/touches/lead:L-1", data={"outcome": "reply", "note": "Call Tue", "csrf_token": token,
                                                 "back": "/day"})  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"] == "/day"
    assert _statuses(site, "lead:L-1")[:2] == ["done", "stopped"]
    assert "touch-reply-L-1" not in parse(ada.get("/day").text).tests


def test_the_deal_page_shows_the_next_touch_and_starts_the_cadence(site: Site) -> None:
    deal = site.deal("ben")
    ben = site.browser("ben")
    page = parse(ben.get(f"/deals/{deal.id}").text)
    assert {"next-touch", "next-touch-none", "cadence-start"} <= set(page.tests)
    token = site.csrf(ben)
    started = ben.post(f"/cadences/deal:{deal.id}/start", data={"csrf_token": token, "back": f"/deals/{deal.id}"})
    assert started.status_code == 303
    assert started.headers["location"] == f"/deals/{deal.id}"
    shown = ben.get(f"/deals/{deal.id}").text
    page = parse(shown)
    assert "touch-meeting" in page.tests
    assert "cadence-start" not in page.tests
    assert "step 1 of 6" in shown
    cyd = site.browser("cyd")
    other = cyd.post(f"/touches/{deal.id}", data={"outcome": "none", "csrf_token": site.csrf(cyd)})
    assert other.status_code in (403, 404)
    outside = ben.post(f"/touches/{deal.id}", data={"outcome": "meeting", "csrf_token": token, "back": "//evil"})
    assert outside.status_code == 303
    assert outside.headers["location"] == "/day"
    assert _statuses(site, f"deal:{deal.id}")[:2] == ["done", "stopped"]
    assert "next-touch-none" in parse(ben.get(f"/deals/{deal.id}").text).tests


def test_the_dashboards_show_cadence_compliance_of_the_readers_scope(site: Site) -> None:
    from dealflow.services import cadences as sc

    for name in ("Jane Roe", "Tom Poe"):
        with site.uow() as uow:
            sl.capture_lead(uow=uow, actor_id="ada", name=name, company="Acme")
    with site.uow() as uow:
        sc.record_touch(uow=uow, actor_id="ada", subject="lead:L-1")
    site.clock.advance(days=3)
    with site.uow() as uow:
        sc.record_touch(uow=uow, actor_id="ada", subject="lead:L-2", outcome="reply")
    page = site.browser("ada").get("/dashboards")
    assert page.status_code == 200
    found = parse(page.text)
    assert {"cadence-metrics", "chart-cadence-rep", "chart-cadence-replies"} <= set(found.tests)
    # L-1's first touch on time, L-2's three days late, L-1's second (due on day 1) missed by day 3
    assert 'data-test="cadence-on-time">33%<' in page.text
    assert "3 / 1 / 1 / 1" in page.text
    assert "0 of 1 ended · 0 dropped before five · 1 running" in page.text  # L-2 answered, L-1 runs on
    other = site.browser("cyd").get("/dashboards").text  # cyd sees only their own touches: none
    assert 'data-test="cadence-on-time">\u2013<' in other  # an en dash: no touch was due
