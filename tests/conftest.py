"""Shared fixtures: a clean workspace database on SQLite and on PostgreSQL, and a fixed clock."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from dealflow.process.loading import load_template
from dealflow.services import workspace as ws
from dealflow.store import queries
from dealflow.store.engine import make_engine, upgrade
from dealflow.store.tables import metadata
from dealflow.store.unit_of_work import UnitOfWork

POSTGRES_URL = os.environ.get("DEALFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [b for b in os.environ.get("DEALFLOW_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with the schema, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh SQLite workspace file of the test's own (for what only SQLite does)."""
    path = tmp_path / "sqlite-only.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, made on the server DEALFLOW_TEST_POSTGRES_URL names
    and dropped at the end, so that two runs on one machine never share tables (fails under CI=true
    if the server is unreachable)."""
    server = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    name = f"dealflow_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """This run's PostgreSQL test database with the schema."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def truncate(engine: Engine) -> None:
    """Empty every table of a PostgreSQL workspace."""
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """The URL of an empty, migrated workspace database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "workspace.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
    else:
        engine: Engine = request.getfixturevalue("postgres_engine")
        truncate(engine)
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test workspace."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock starting on a Monday morning."""
    return Clock()


@pytest.fixture
def uow_factory(engine: Engine, clock: Clock) -> Callable[[], UnitOfWork]:
    """Makes units of work on the test workspace with the test clock."""
    return lambda: UnitOfWork(engine, clock=clock)


TEAM = (
    ("ada", ["sdr"], "east"),
    ("ben", ["ae"], "east"),
    ("cyd", ["ae"], "west"),
    ("max", ["manager"], "east"),
    ("cat", ["csm"], "east"),
)


IMPORTER_ID = "importer"


def add_importer(engine: Engine) -> str:
    """A revops user to import history as (imports need revops or admin); their id."""
    with UnitOfWork(engine, clock=lambda: START) as uow:  # at a fixed time: two workspaces alike
        if queries.get_user(uow.connection, user_id=IMPORTER_ID) is None:
            ws.add_user(uow=uow, user_id=IMPORTER_ID, name="Importer", roles=["revops"], team=None)
    return IMPORTER_ID


def install_team(uow_factory: Callable[[], UnitOfWork]) -> Callable[[], UnitOfWork]:
    """Install the standard process and a small team (an SDR, two AEs, a manager, a CSM)."""
    with uow_factory() as uow:
        ws.install_process(uow=uow, source=load_template("standard")[1], name="standard.yaml")
    for user_id, roles, team_name in TEAM:
        with uow_factory() as uow:
            ws.add_user(uow=uow, user_id=user_id, name=user_id.title(), roles=roles, team=team_name)
    return uow_factory


@pytest.fixture
def team(uow_factory: Callable[[], UnitOfWork]) -> Callable[[], UnitOfWork]:
    """A workspace with the standard process and a small team (an SDR, two AEs, a manager, a CSM)."""
    return install_team(uow_factory)
