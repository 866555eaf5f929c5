"""The calendar feed: a user's next steps as iCalendar, read back with the icalendar library,
behind a private token that can be replaced and revoked."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import Engine

from dealflow.server.app import create_app
from dealflow.services import cadences
from dealflow.services import calendar as cal
from dealflow.services import leads as sl
from dealflow.settings import Settings

from ..conftest import Clock
from .conftest import Factory
from .deal_steps import create, next_step


def feed(client: TestClient, token: str) -> Calendar:
    response = client.get(f"/calendar/{token}.ics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def test_the_feed_holds_the_users_next_steps_with_stable_uids(
    people: Factory, engine: Engine, clock: Clock, database_url: str
) -> None:
    first, second = create(people, "Acme"), create(people, "Globex")
    next_step(people, first, "ada", clock.now + timedelta(days=1), "Send the quote")
    next_step(people, second, "ada", clock.now + timedelta(days=3), "Demo")
    next_step(people, create(people, "Ben's"), "ben", clock.now + timedelta(days=1))
    with people() as uow:
        token = cal.create_feed(uow=uow, user_id="ada")
    client = TestClient(create_app(Settings(database_url=database_url), engine=engine, clock=clock))

    events = feed(client, token).walk("VEVENT")
    assert [str(e["SUMMARY"]) for e in events] == [f"Send the quote ({first} Acme)", f"Demo ({second} Globex)"]
    assert [str(e["UID"]) for e in events] == [f"next-step-{first}@dealflow", f"next-step-{second}@dealflow"]
    assert events[0].decoded("DTSTART") == clock.now + timedelta(days=1)
    assert events[0].decoded("DTEND") == clock.now + timedelta(days=1, minutes=30)

    clock.advance(hours=1)
    next_step(people, first, "ada", clock.now + timedelta(days=5), "Call the CFO")  # replaces the quote
    again = feed(client, token).walk("VEVENT")
    moved = next(e for e in again if str(e["UID"]) == f"next-step-{first}@dealflow")
    assert str(moved["SUMMARY"]) == f"Call the CFO ({first} Acme)"
    assert moved.decoded("DTSTART") == clock.now + timedelta(days=5)
    assert len(again) == 2


def test_a_new_url_replaces_the_old_and_a_revoked_one_is_gone(
    people: Factory, engine: Engine, clock: Clock, database_url: str
) -> None:
    client = TestClient(create_app(Settings(database_url=database_url), engine=engine, clock=clock))
    with people() as uow:
        old = cal.create_feed(uow=uow, user_id="ben")
    with people() as uow:
        new = cal.create_feed(uow=uow, user_id="ben")
    assert client.get(f"/calendar/{old}.ics").status_code == 404
    assert feed(client, new).walk("VEVENT") == []
    with people() as uow:
        assert cal.revoke_feeds(uow=uow, user_id="ben") == 1
    assert client.get(f"/calendar/{new}.ics").status_code == 404
    assert client.get("/calendar/cal_not-a-token.ics").status_code == 404
    assert cal.feed_url("https://crm.example.com/", new) == f"https://crm.example.com/calendar/{new}.ics"


def test_the_next_touch_of_each_running_cadence_is_a_to_do_due_on_its_day(
    people: Factory, engine: Engine, clock: Clock, database_url: str
) -> None:
    with people() as uow:
        lead = sl.capture_lead(uow=uow, actor_id="ada", name="Ann Lee", company="Acme", owner="ada")
        sl.capture_lead(uow=uow, actor_id="ben", name="Bo Wu", owner="ben")
    with people() as uow:
        token = cal.create_feed(uow=uow, user_id="ada")
    client = TestClient(create_app(Settings(database_url=database_url), engine=engine, clock=clock))

    (todo,) = feed(client, token).walk("VTODO")
    assert str(todo["UID"]).startswith("cadence-")
    assert str(todo["UID"]).endswith("-1@dealflow")
    assert todo.decoded("DUE") == clock.now.date()
    assert f"{lead} Ann Lee (Acme)" in str(todo["SUMMARY"])
    with people() as uow:
        cadences.record_touch(uow=uow, actor_id="ada", subject=f"lead:{lead}", outcome="none", note=None)
    (after,) = feed(client, token).walk("VTODO")
    assert str(after["UID"]).endswith("-2@dealflow")
    assert after.decoded("DUE") > clock.now.date()
