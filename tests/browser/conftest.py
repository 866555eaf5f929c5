"""Fixtures of the browser tests: the real app under Uvicorn on the seeded demo, and the system Chromium.

The demo is seeded once per run into an SQLite file; each test module serves its own copy on a free
loopback port from a background thread, and every test gets a fresh browser context (no cookies).
Under CI=true a browser that cannot start fails the run; elsewhere those tests are skipped with why.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine, event, func, select

from dealflow.domain.deals import Deal
from dealflow.server.app import create_app
from dealflow.services import auth, demo
from dealflow.services import deals as sd
from dealflow.services import workspace as ws
from dealflow.settings import Settings
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.engine import make_engine, upgrade
from dealflow.store.unit_of_work import UnitOfWork

# The machines that run the suite are shared and often loaded: wait longer than Playwright's 5 s.
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)
CHROMIUM = os.environ.get("DEALFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "dealflow-demo"  # the demo users' password, as `dealflow serve --demo` sets it
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Another team beside the demo's east team: a rep and a deal no east user may open.
WEST_REP = ("wendy", "Wendy Brooks", ["ae"], "west")
WEST_DEAL = "Tidewater Ports: rollout"
# A deal just created by an SDR, with none of the evidence its first gate asks for.
FRESH_DEAL = "Quanta Robotics: pilot"


def _unavailable(message: str) -> None:
    """Fail under CI (a browser test must run there), skip elsewhere, saying why."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """The system Chromium, headless, shared by every browser test of the run."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set DEALFLOW_TEST_CHROMIUM)")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    except Exception as exc:
        playwright.stop()
        _unavailable(f"Chromium at {CHROMIUM} did not start: {exc}")
    yield launched
    launched.close()
    playwright.stop()


def _fast_writes(dbapi_connection: Any, _record: Any) -> None:
    # Seeding a throwaway file: skip the fsync of every commit (the app's own engine keeps FULL).
    dbapi_connection.execute("PRAGMA synchronous=OFF")


@pytest.fixture(scope="session")
def seeded_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite workspace seeded as `dealflow serve --demo` seeds it, plus a west rep and a fresh deal."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    engine = make_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _fast_writes)
    upgrade(engine)
    demo.seed_demo(engine)
    user_id, name, roles, team = WEST_REP
    with UnitOfWork(engine) as uow:
        ws.add_user(uow=uow, user_id=user_id, name=name, roles=roles, team=team)
    with UnitOfWork(engine) as uow:
        sd.create_deal(uow=uow, actor_id=user_id, process_key="standard", title=WEST_DEAL, fields={"amount": "30000"})
    with UnitOfWork(engine) as uow:
        sd.create_deal(uow=uow, actor_id="sam", process_key="standard", title=FRESH_DEAL, fields={"amount": "18000"})
    for user in (*(u for u, *_ in demo.TEAM), user_id):
        with UnitOfWork(engine) as uow:
            auth.set_password(uow=uow, user_id=user, password=PASSWORD)
    engine.dispose()
    return path


@dataclass
class Live:
    """The app served over HTTP on a copy of the seeded demo, and its database for assertions."""

    url: str
    engine: Engine
    cookies: dict[str, list[Any]] = field(default_factory=dict)

    def deal(self, deal_id: str) -> Deal:
        """A deal as it stands in the database."""
        with UnitOfWork(self.engine) as uow:
            found = queries.get_deal(uow.connection, deal_id=deal_id)
        assert found is not None, deal_id
        return found

    def deal_titled(self, title: str) -> Deal:
        """The one deal with this title."""
        with self.engine.connect() as connection:
            ids = connection.execute(select(t.deals.c.id).where(t.deals.c.title == title)).scalars().all()
        assert len(ids) == 1, (title, ids)
        return self.deal(ids[0])

    def open_deals_of_team(self, team: str) -> int:
        """How many open deals the members of ``team`` own."""
        owned = t.deals.join(t.users, t.users.c.id == t.deals.c.owner)
        query = select(func.count()).select_from(owned).where(t.deals.c.status == "open", t.users.c.team == team)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar() or 0)

    def events(self) -> int:
        """How many events the log holds."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(t.events)).scalar() or 0)


def _free_socket() -> socket.socket:
    """A listening socket on a free loopback port, handed to Uvicorn so no other process can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@pytest.fixture(scope="module")
def live(seeded_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The real app under Uvicorn in a background thread, on this module's own copy of the demo."""
    path = tmp_path_factory.mktemp("live") / "web.db"
    shutil.copy(seeded_demo, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(database_url=url), engine=engine), log_level="warning"))
    sock = _free_socket()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("Uvicorn did not start serving the app")
        time.sleep(0.05)
    host, port = sock.getsockname()
    yield Live(f"http://{host}:{port}", engine)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    engine.dispose()


@pytest.fixture
def page(browser: Browser, live: Live) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies), at desktop width, addressed relative to the app."""
    context = browser.new_context(base_url=live.url, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def log_in(page: Page, live: Live, user: str, *, next_path: str = "/board") -> None:
    """Log in through the login form and land on ``next_path``; later pages of the module reuse the
    session (a password check is slow by design, and the form itself is tested on its own)."""
    if user in live.cookies:
        page.context.add_cookies(live.cookies[user])
        page.goto(next_path)
    else:
        page.goto(f"/login?next={next_path}")
        page.fill("#user", user)
        page.fill("#password", PASSWORD)
        page.click("[data-test=login-submit]")
        page.wait_for_url(f"**{next_path}")
        live.cookies[user] = list(page.context.cookies())
    expect(page.locator("[data-test=nav]")).to_be_visible()


def shoot(page: Page, name: str) -> None:
    """Save the whole page as test-artifacts/<name>.png, for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} is nearly empty"


def overflowing(page: Page) -> list[str]:
    """The elements whose right edge passes the window's, outside a container that scrolls sideways."""
    found: list[str] = page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
            const x = getComputedStyle(p).overflowX; if (x === 'auto' || x === 'scroll') return true; } return false; };
          return [...document.body.querySelectorAll('*')]
            .filter((el) => el.getBoundingClientRect().right > width + 1 && !scrolls(el))
            .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
                         + (el.dataset.test ? '[' + el.dataset.test + ']' : ''));
        }"""
    )
    return found
