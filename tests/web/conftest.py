"""Fixtures of the page tests: the app on a test workspace, and a logged-in browser-like client per user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from dealflow.domain.deals import Deal
from dealflow.server.app import create_app
from dealflow.services import auth
from dealflow.services import deals as sd
from dealflow.services import workspace as ws
from dealflow.settings import Settings
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.unit_of_work import UnitOfWork

from ..conftest import Clock

PASSWORD = "correct horse battery"
MORE = (("root", ["revops", "admin"], None),)


class Inputs(HTMLParser):
    """The named inputs of a page, and the texts of elements carrying ``data-test``."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.tests: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.values[str(found["name"])] = found.get("value") or ""
        if found.get("data-test"):
            self.tests.append(str(found["data-test"]))


def parse(html: str) -> Inputs:
    """The inputs and ``data-test`` markers of an HTML page."""
    parser = Inputs()
    parser.feed(html)
    return parser


@dataclass
class Site:
    """The app on a test workspace; a user is given a password the first time they log in."""

    app: FastAPI
    engine: Engine
    clock: Clock
    passwords: set[str] = field(default_factory=set)

    def browser(self, user: str | None = None) -> TestClient:
        """A client holding ``user``'s session cookie after logging in through the page."""
        client = TestClient(self.app, follow_redirects=False)
        if user is not None:
            if user not in self.passwords:
                with self.uow() as uow:
                    auth.set_password(uow=uow, user_id=user, password=PASSWORD)
                self.passwords.add(user)
            answer = client.post("/login", data={"user": user, "password": PASSWORD, "next": "/board"})
            assert answer.status_code == 303, answer.text
        return client

    def csrf(self, client: TestClient) -> str:
        """The CSRF token the pages give the client's session."""
        token = parse(client.get("/day").text).values["csrf_token"]
        assert token
        return token

    def uow(self) -> UnitOfWork:
        """A unit of work on the workspace, with the test clock."""
        return UnitOfWork(self.engine, clock=self.clock)

    def deal(self, owner: str, title: str = "Acme: 40 seats", **options: Any) -> Deal:
        """Open a deal for ``owner`` through the use case; in a later stage than the first, the
        admin opens it for them by an override."""
        if options.get("stage") in (None, "prospecting"):
            actor = owner
        else:
            actor, options = "root", {"owner": owner, "override": True, "reason": "Set up in a later stage", **options}
        with self.uow() as uow:
            return sd.create_deal(uow=uow, actor_id=actor, process_key="standard", title=title, **options)

    def load(self, deal_id: str) -> Deal:
        """A deal as it stands."""
        with self.uow() as uow:
            found = queries.get_deal(uow.connection, deal_id=deal_id)
        assert found is not None
        return found

    def events(self) -> int:
        """How many events the log holds."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(t.events)).scalar() or 0)


@pytest.fixture
def site(team: Callable[[], UnitOfWork], engine: Engine, clock: Clock, database_url: str) -> Site:
    """The pages on a workspace with the standard process, the shared team and an admin."""
    for user_id, roles, team_name in MORE:
        with team() as uow:
            ws.add_user(uow=uow, user_id=user_id, name=user_id.title(), roles=roles, team=team_name)
    return Site(create_app(Settings(database_url=database_url), engine=engine, clock=clock), engine, clock)
