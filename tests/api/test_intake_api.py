"""The public intake endpoint and the embeddable form page, through FastAPI's TestClient."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dealflow.server.app import create_app
from dealflow.services import workspace as ws
from dealflow.settings import Settings
from dealflow.store import tables as t

from .conftest import Api

HOSTILE = "<script>alert('x')</script>"


def leads(api: Api) -> list[Any]:
    with api.engine.connect() as connection:
        return list(connection.execute(select(t.leads).order_by(t.leads.c.number)).all())


def sdrs(api: Api) -> None:
    """A second east SDR and a west one, so the standard routing has a team on each side."""
    for user_id, team in (("eve", "east"), ("lee", "west")):
        with api.uow() as uow:
            ws.add_user(uow=uow, user_id=user_id, name=user_id.title(), roles=["sdr"], team=team)


def test_the_form_page_stands_alone_and_a_post_thanks_the_sender(api: Api) -> None:
    sdrs(api)
    client = api.client()
    page = client.get("/intake/website")
    assert page.status_code == 200
    assert 'action="/intake/website"' in page.text
    assert 'name="website_url"' in page.text  # the honeypot, hidden from people
    assert "<script" not in page.text
    assert "dealflow_session" not in page.headers.get("set-cookie", "")
    assert "x-frame-options" not in {k.lower() for k in page.headers}
    answer = client.post("/intake/website", data={"name": "Ann Lee", "email": "ann@acme.io", "region": "east"})
    assert answer.status_code == 200
    assert "Thank you, Ann Lee" in answer.text
    assert "within the hour" in answer.text
    (row,) = leads(api)
    assert (row.name, row.email, row.owner, row.form) == ("Ann Lee", "ann@acme.io", "ada", "website")
    assert client.get("/intake/nosuch").status_code == 404


def test_script_tags_are_stored_as_text_and_escaped_on_every_page(api: Api) -> None:
    client = api.client()
    answer = client.post("/intake/website", data={"name": HOSTILE, "email": "s@s.io", "message": HOSTILE})
    assert answer.status_code == 200
    assert HOSTILE not in answer.text
    assert "&lt;script&gt;" in answer.text
    (row,) = leads(api)
    assert row.name == HOSTILE
    assert row.fields["message"] == HOSTILE
    bad = client.post("/intake/website", data={"name": HOSTILE, "email": "not an email"})
    assert bad.status_code == 422
    assert HOSTILE not in bad.text
    assert "not an email address" in bad.text
    assert "&lt;script&gt;" in bad.text  # the value is given back to fix, escaped
    listed = api.client("root").get("/api/v1/leads").json()
    assert listed["data"][0]["name"] == HOSTILE  # JSON carries the text as it was sent


def test_the_rest_endpoint_takes_json_and_forms_and_names_bad_fields(api: Api) -> None:
    client = api.client()
    answer = client.post("/api/v1/intake/website", json={"name": "Bo", "email": "bo@bolt.io", "region": "west"})
    assert answer.status_code == 200
    assert answer.json() == {"received": True, "message": "Thanks! One of our team will be in touch within the hour."}
    form = client.post("/api/v1/intake/website", data={"name": "Cy", "email": "cy@cobalt.io"})
    assert form.status_code == 200
    assert [r.owner for r in leads(api)] == ["wes", "max"]  # no west SDR: the west manager; no region: fallback
    huge = client.post("/api/v1/intake/website", json={"name": "Dee", "email": "d@d.io", "company": "x" * 5000})
    assert huge.status_code == 422
    assert huge.json()["error"]["field"] == "company"
    email = client.post("/api/v1/intake/website", json={"name": "Dee", "email": "dee@"})
    assert email.json()["error"]["field"] == "email"
    assert client.post("/api/v1/intake/website", json=["not", "an", "object"]).status_code == 422
    assert (
        client.post("/api/v1/intake/website", content=b"{", headers={"content-type": "application/json"}).json()[
            "error"
        ]["field"]
        == "body"
    )
    assert len(leads(api)) == 2


def test_a_duplicate_post_is_answered_alike_and_recorded_on_the_lead(api: Api) -> None:
    client = api.client()
    for _ in range(2):
        answer = client.post("/api/v1/intake/website", json={"name": "Ann", "email": "ann@acme.io"})
        assert answer.status_code == 200
    assert len(leads(api)) == 1
    types = [e["type"] for e in api.client("root").get("/api/v1/events", params={"stream": "lead:L-1"}).json()["data"]]
    assert "LeadResubmitted" in types


def test_the_honeypot_is_answered_like_a_real_post_but_makes_no_lead(api: Api) -> None:
    client = api.client()
    bot = client.post("/intake/website", data={"name": "Bot", "email": "b@b.io", "website_url": "http://x"})
    assert bot.status_code == 200
    assert "Thank you" in bot.text
    rest = client.post("/api/v1/intake/website", json={"name": "Bot", "email": "b@b.io", "website_url": "x"})
    assert rest.status_code == 200
    assert leads(api) == []
    with api.engine.connect() as connection:
        outcomes = connection.execute(select(t.intake_attempts.c.outcome)).scalars().all()
    assert outcomes == ["spam", "spam"]


def test_a_flood_from_one_address_gets_429_with_a_clear_message(api: Api) -> None:
    app = create_app(Settings(database_url=api.settings.database_url), engine=api.engine, clock=api.clock)
    client = api.client()
    client.app = app  # type: ignore[assignment]
    for i in range(5):
        assert (
            client.post("/api/v1/intake/website", json={"name": f"P{i}", "email": f"p{i}@p{i}.io"}).status_code == 200
        )
    limited = client.post("/api/v1/intake/website", json={"name": "P6", "email": "p6@p6.io"})
    assert limited.status_code == 429
    assert "at most 5 a minute" in limited.json()["error"]["message"]
    assert int(limited.headers["Retry-After"]) > 0
    page = client.post("/intake/website", data={"name": "P7", "email": "p7@p7.io"})
    assert page.status_code == 429
    assert "at most 5 a minute" in page.text
    assert len(leads(api)) == 5
    api.clock.advance(minutes=2)
    assert client.post("/api/v1/intake/website", json={"name": "P8", "email": "p8@p8.io"}).status_code == 200


def test_a_user_is_set_away_over_rest_and_routing_skips_them(api: Api) -> None:
    sdrs(api)
    until = api.clock.now.replace(day=api.clock.now.day + 2).isoformat()
    answer = api.client("ada").put("/api/v1/users/ada/away", json={"until": until})
    assert answer.status_code == 200, answer.text
    assert answer.json()["away_until"] is not None
    assert api.client("ada").put("/api/v1/users/eve/away", json={"until": until}).status_code == 403
    assert api.client("ada").put("/api/v1/users/ada/away", json={"until": "2026-01-01T00:00:00"}).status_code == 422
    for i in range(2):
        api.client().post("/api/v1/intake/website", json={"name": f"P{i}", "email": f"p{i}@p{i}.io", "region": "east"})
    assert [r.owner for r in leads(api)] == ["eve", "eve"]
    back = api.client("max").put("/api/v1/users/ada/away", json={"until": None})
    assert back.json()["away_until"] is None


def test_a_form_posted_as_raw_utf8_is_stored_as_the_same_text_as_a_percent_encoded_one(api: Api) -> None:
    sdrs(api)
    client = api.client()
    form = {"content-type": "application/x-www-form-urlencoded"}
    raw = "name=Zoë 山田&email=zoe@yamada.io&region=east".encode()
    assert client.post("/api/v1/intake/website", content=raw, headers=form).status_code == 200
    encoded = "name=Zo%C3%AB+%E5%B1%B1%E7%94%B0&email=zoe2@yamada.io&region=east"
    assert client.post("/intake/website", content=encoded.encode(), headers=form).status_code == 200
    broken = b"name=Bad \xff\xfe bytes&email=bad@bytes.io&region=east"
    assert client.post("/api/v1/intake/website", content=broken, headers=form).status_code == 200
    assert [row.name for row in leads(api)] == ["Zoë 山田", "Zoë 山田", "Bad \ufffd\ufffd bytes"]
