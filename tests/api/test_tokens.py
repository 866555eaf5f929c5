"""API tokens and user administration: stored as digests, revocable, recorded as events; the CLI commands."""

from __future__ import annotations

import hashlib
import io
import json
import sys

import pytest
from sqlalchemy import select

from dealflow.cli.app import run
from dealflow.store import tables as t
from dealflow.store.event_log import read_events

from .conftest import Api


def _events(api: Api, stream: str) -> list[tuple[str, str, dict[str, object]]]:
    with api.engine.connect() as connection:
        return [(e.type, e.actor, e.data) for _seq, _v, e in read_events(connection, stream=stream)]


def test_a_token_is_shown_once_stored_as_a_digest_and_works_until_revoked(api: Api) -> None:
    made = api.client("ben").post("/api/v1/tokens", json={"name": "nightly export"})
    assert made.status_code == 201, made.text
    body = made.json()
    token, token_id = body["token"], body["id"]
    with api.engine.connect() as connection:
        stored = connection.execute(select(t.api_tokens).where(t.api_tokens.c.id == token_id)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(tuple(stored))
    assert ("ApiTokenCreated", "ben", {"id": token_id, "name": "nightly export", "expires_at": None}) in _events(
        api, "user:ben"
    )
    listed = api.client("ben").get("/api/v1/tokens").json()
    assert token_id in [k["id"] for k in listed]
    assert all("token" not in k for k in listed)

    script = api.client()
    script.headers["Authorization"] = f"Bearer {token}"
    assert script.get("/api/v1/deals").status_code == 200
    assert script.post("/api/v1/deals", json={"title": "From a script"}).status_code == 201  # no CSRF for tokens
    revoked = script.delete(f"/api/v1/tokens/{token_id}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = script.get("/api/v1/deals")
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == f"API token {token_id} was revoked"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert ("ApiTokenRevoked", "ben", {"id": token_id}) in _events(api, "user:ben")
    again = api.client("ben").delete(f"/api/v1/tokens/{token_id}")
    assert again.status_code == 409


def test_tokens_expire_and_unknown_tokens_are_refused(api: Api) -> None:
    made = api.client("ben").post("/api/v1/tokens", json={"name": "a week", "expires_in_days": 7}).json()
    script = api.client()
    script.headers["Authorization"] = f"Bearer {made['token']}"
    api.clock.advance(days=6, hours=23)
    assert script.get("/api/v1/deals").status_code == 200
    api.clock.advance(hours=2)
    assert script.get("/api/v1/deals").json()["error"]["message"] == f"API token {made['id']} expired"
    script.headers["Authorization"] = "Bearer dft_" + "x" * 43
    assert script.get("/api/v1/deals").json()["error"]["message"] == "unknown API token"


def test_tokens_of_other_users_are_for_revops_and_admins(api: Api) -> None:
    refused = api.client("ben").post("/api/v1/tokens", json={"name": "for ada", "user_id": "ada"})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "only revops or admin may make tokens for other users"
    ada_token = api.client("ada").get("/api/v1/tokens").json()[0]["id"]
    assert api.client("ben").delete(f"/api/v1/tokens/{ada_token}").status_code == 403
    assert api.client("ben").get("/api/v1/tokens", params={"all": True}).status_code == 403
    made = api.client("root").post("/api/v1/tokens", json={"name": "for ada", "user_id": "ada"})
    assert made.status_code == 201
    assert made.json()["user_id"] == "ada"
    assert made.json()["created_by"] == "root"
    everyone = api.client("root").get("/api/v1/tokens", params={"all": True}).json()
    assert {k["user_id"] for k in everyone} >= {"ada", "ben", "cyd", "root"}
    keyed = api.client("ben").post("/api/v1/tokens", json={"name": "x"}, headers={"Idempotency-Key": "k"})
    assert keyed.status_code == 422
    assert keyed.json()["error"]["field"] == "Idempotency-Key"


def test_admins_change_users_and_new_roles_apply_at_once(api: Api) -> None:
    change = {"roles": ["manager"], "team": "west"}
    refused = api.client("max").patch("/api/v1/users/ben", json=change)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "only revops or admin may change users"
    deal = api.client("cyd").post("/api/v1/deals", json={"title": "West deal"}).json()
    assert api.client("ben").get(f"/api/v1/deals/{deal['id']}").status_code == 403
    changed = api.client("root").patch("/api/v1/users/ben", json=change)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["roles"], changed.json()["team"]) == (["manager"], "west")
    assert api.client("ben").get(f"/api/v1/deals/{deal['id']}").status_code == 200  # now west's manager
    assert ("UserChanged", "root", change) in _events(api, "user:ben")
    last = api.client("root").patch("/api/v1/users/root", json={"roles": ["ae"]})
    assert last.status_code == 422
    assert (
        last.json()["error"]["message"] == "root is the last revops or admin user: give the role to someone else first"
    )
    unknown = api.client("root").patch("/api/v1/users/ben", json={"colour": "red"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "colour"


def test_admins_add_users_who_then_log_in(api: Api) -> None:
    body = {"id": "eve", "name": "Eve Stone", "roles": ["ae"], "team": "east", "password": "eve's long password"}
    assert api.client("ben").post("/api/v1/users", json=body).status_code == 403
    added = api.client("root").post("/api/v1/users", json=body)
    assert added.status_code == 201, added.text
    assert "password" not in added.json()
    assert api.client("root").post("/api/v1/users", json=body).status_code == 409
    login = api.client().post("/api/v1/auth/login", json={"user": "eve", "password": body["password"]})
    assert login.status_code == 200
    assert [e[0] for e in _events(api, "user:eve")] == ["UserAdded", "PasswordChanged"]


def test_the_command_line_sets_passwords_and_makes_lists_and_revokes_tokens(
    api: Api, database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = ["--db", database_url]
    monkeypatch.setattr(sys, "stdin", io.StringIO("a password typed once\n"))
    assert run(["user", "password", "cat", "--password-stdin", *db]) == 0
    assert "password set for cat" in capsys.readouterr().out
    login = api.client().post("/api/v1/auth/login", json={"user": "cat", "password": "a password typed once"})
    assert login.status_code == 200
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert run(["user", "password", "cat", "--password-stdin", *db]) == 2
    assert "password: must be 10 to 1024 characters long" in capsys.readouterr().err

    assert run(["token", "create", "backup job", "--as", "cat", "--expires", "30d", "--json", *db]) == 0
    made = json.loads(capsys.readouterr().out)
    script = api.client()
    script.headers["Authorization"] = f"Bearer {made['token']}"
    assert script.get("/api/v1/auth/session").json()["user"]["id"] == "cat"
    assert run(["token", "list", "--as", "cat", "--json", *db]) == 0
    assert made["id"] in [k["id"] for k in json.loads(capsys.readouterr().out)]
    assert run(["token", "create", "for ben", "--user", "ben", "--as", "cat", *db]) == 5
    assert run(["token", "revoke", made["id"], "--as", "cat", *db]) == 0
    assert script.get("/api/v1/auth/session").status_code == 401
