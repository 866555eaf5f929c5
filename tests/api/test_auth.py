"""Logging in and out through the API: cookies, server-side sessions, expiry, CSRF, the login limit."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from dealflow.server.app import create_app
from dealflow.services import auth
from dealflow.store import tables as t

from .conftest import Api

PASSWORD = "correct horse battery"


def _password(api: Api, *users: str) -> None:
    for user in users or ("ben",):
        with api.uow() as uow:
            auth.set_password(uow=uow, user_id=user, password=PASSWORD)


def _login(client: TestClient, user: str = "ben", password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"user": user, "password": password})


def test_login_sets_a_session_cookie_that_logout_revokes_on_every_instance(api: Api) -> None:
    _password(api)
    client = api.client()
    answer = _login(client)
    assert answer.status_code == 200, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over http here
    body = answer.json()
    assert body["user"] == {"id": "ben", "name": "Ben", "roles": ["ae"], "team": "east"}
    assert body["via"] == "session"
    token = client.cookies["dealflow_session"]
    with api.engine.connect() as connection:
        stored = connection.execute(select(t.sessions.c.id, t.sessions.c.user_id)).all()
    assert [tuple(r) for r in stored] == [(hashlib.sha256(token.encode()).hexdigest(), "ben")]
    other = TestClient(api.another_instance(), cookies={"dealflow_session": token})
    assert other.get("/api/v1/auth/session").json()["user"]["id"] == "ben"
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]}).status_code == 204
    ended = other.get("/api/v1/deals")
    assert ended.status_code == 401
    assert ended.json()["error"]["message"] == "your session has ended: log in again"
    assert api.count(t.sessions) == 0


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(api: Api) -> None:
    _password(api)
    client = api.client()
    wrong, unknown = _login(client, password="not the password"), _login(client, user="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["message"] == "wrong user name or password"
    assert "dealflow_session" not in client.cookies
    assert api.count(t.login_attempts) == 2
    assert api.count(t.sessions) == 0


def test_cookies_are_secure_when_served_over_https(api: Api) -> None:
    _password(api)
    answer = _login(api.client(base_url="https://testserver"))
    assert answer.status_code == 200
    assert "Secure" in answer.headers["set-cookie"]


def test_a_session_expires_after_idling_and_at_the_end_of_its_lifetime(api: Api) -> None:
    _password(api)
    client = api.client()
    assert _login(client).status_code == 200
    api.clock.advance(hours=7, minutes=59)
    assert client.get("/api/v1/auth/session").status_code == 200  # used: its idle expiry moves on
    api.clock.advance(hours=7, minutes=59)
    assert client.get("/api/v1/auth/session").status_code == 200
    api.clock.advance(hours=8, minutes=1)
    idle = client.get("/api/v1/auth/session")
    assert idle.status_code == 401
    assert idle.json()["error"]["message"] == "your session expired: log in again"
    assert api.count(t.sessions) == 0

    assert _login(client).status_code == 200
    started = api.clock.now
    while api.clock.now - started < timedelta(days=14) - timedelta(hours=7):
        api.clock.advance(hours=7)
        assert client.get("/api/v1/auth/session").status_code == 200
    api.clock.now = started + timedelta(days=14, minutes=1)
    assert client.get("/api/v1/auth/session").status_code == 401


def test_changes_on_a_session_need_its_csrf_token_and_write_nothing_without_it(api: Api) -> None:
    _password(api, "ben", "ada")
    client, other = api.client(), api.client()
    csrf = _login(client).json()["csrf_token"]
    foreign = _login(other, "ada").json()["csrf_token"]
    before = api.count()
    for headers, message in (
        ({}, "missing CSRF token: send the X-CSRF-Token header (or a csrf_token form field)"),
        ({"X-CSRF-Token": "forged"}, "the CSRF token does not match your session: reload the page and try again"),
        ({"X-CSRF-Token": foreign}, "the CSRF token does not match your session: reload the page and try again"),
    ):
        refused = client.post("/api/v1/deals", json={"title": "Acme"}, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"] == {"kind": "forbidden", "message": message, "field": None, "reasons": []}
    assert api.count() == before
    assert client.get("/api/v1/deals").status_code == 200  # reading needs no token
    assert client.post("/api/v1/deals", json={"title": "Acme"}, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert client.post("/api/v1/auth/logout", data={"csrf_token": csrf}).status_code == 204  # a form field


def test_logins_are_limited_per_user_name_across_instances(api: Api) -> None:
    _password(api, "ben", "ada")
    client = api.client()
    for _ in range(5):
        assert _login(client, password="guess again").status_code == 401
    limited = _login(client)
    assert limited.status_code == 429
    assert limited.json()["error"]["message"] == "too many failed logins for this user name; try again in 15 minute(s)"
    assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
    assert _login(TestClient(api.another_instance())).status_code == 429  # counted in the database
    assert _login(client, "ada").status_code == 200  # another user name is not held back
    api.clock.advance(minutes=15, seconds=1)
    assert _login(client).status_code == 200


def test_logins_are_limited_per_address(api: Api) -> None:
    _password(api)
    settings = api.settings.model_copy(update={"login_failures_per_address": 3})
    client = TestClient(create_app(settings, engine=api.engine, clock=api.clock))
    for name in ("ann", "bob", "cid"):
        assert _login(client, name).status_code == 401
    limited = _login(client)
    assert limited.status_code == 429
    assert limited.json()["error"]["kind"] == "too_many_attempts"
    assert "for your address" in limited.json()["error"]["message"]


def test_changing_your_password_ends_your_other_sessions(api: Api) -> None:
    _password(api)
    here, elsewhere = api.client(), api.client()
    csrf = _login(here).json()["csrf_token"]
    assert _login(elsewhere).status_code == 200
    change = {"current_password": "not it at all", "new_password": "a new long password"}
    wrong = here.put("/api/v1/auth/password", json=change, headers={"X-CSRF-Token": csrf})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["field"] == "current_password"
    change["current_password"] = PASSWORD
    assert here.put("/api/v1/auth/password", json=change, headers={"X-CSRF-Token": csrf}).status_code == 204
    assert here.get("/api/v1/auth/session").status_code == 200
    assert elsewhere.get("/api/v1/auth/session").status_code == 401
    assert _login(api.client()).status_code == 401
    assert _login(api.client(), password="a new long password").status_code == 200
