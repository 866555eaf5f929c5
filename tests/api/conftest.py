"""Fixtures of the API tests: the app on a test workspace with a team, and a client per user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from dealflow.server.app import create_app
from dealflow.services import tokens
from dealflow.services import workspace as ws
from dealflow.settings import Settings
from dealflow.store import tables as t
from dealflow.store.unit_of_work import UnitOfWork

from ..conftest import TEAM, Clock

# Besides the shared team (ada sdr, ben ae, max manager, cat csm in east; cyd ae in west):
MORE = (("root", ["revops", "admin"], None), ("wes", ["manager"], "west"))
USERS = tuple(u for u, _, _ in (*TEAM, *MORE))


@dataclass
class Api:
    """The app on a test workspace, with an API token for every user of the team."""

    app: FastAPI
    engine: Engine
    clock: Clock
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, user: str | None = None, **options: Any) -> TestClient:
        """A client acting as ``user`` through their API token (anonymous when None)."""
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return TestClient(self.app, headers=headers, **options)

    def uow(self) -> UnitOfWork:
        """A unit of work on the workspace, with the test clock."""
        return UnitOfWork(self.engine, clock=self.clock)

    def count(self, table: Any = t.events) -> int:
        """How many rows a table holds (the events, by default)."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar() or 0)

    def another_instance(self) -> FastAPI:
        """A second app on the same database, as a second server would run it."""
        return create_app(self.settings, engine=self.engine, clock=self.clock)


@pytest.fixture
def api(team: Callable[[], UnitOfWork], engine: Engine, clock: Clock, database_url: str) -> Api:
    """The API on a workspace with the standard process, the shared team, an admin and a west manager."""
    for user_id, roles, team_name in MORE:
        with team() as uow:
            ws.add_user(uow=uow, user_id=user_id, name=user_id.title(), roles=roles, team=team_name)
    settings = Settings(database_url=database_url)
    found = Api(create_app(settings, engine=engine, clock=clock), engine, clock, settings)
    for user_id in USERS:
        with team() as uow:
            found.tokens[user_id] = tokens.create_token(uow=uow, actor_id=user_id, name="tests")[1]
    return found


def deal_of(client: TestClient, title: str = "Acme: 40 seats", **body: Any) -> dict[str, Any]:
    """Create a deal through the API and return it."""
    answer = client.post("/api/v1/deals", json={"title": title, **body})
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found
