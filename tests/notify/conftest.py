"""Fixtures of the notification tests: a real SMTP server (aiosmtpd), a real HTTP server that
checks webhook signatures, and a workspace whose team has email addresses."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select

from dealflow.process.loading import load_template
from dealflow.services import workspace as ws
from dealflow.settings import Settings
from dealflow.store import tables as t
from dealflow.store.unit_of_work import UnitOfWork
from dealflow.worker import delivery
from dealflow.worker.delivery import Policy

from ..integration.conftest import Cli

Factory = Callable[[], UnitOfWork]

# (id, roles, team, email): cyd has no email address, so gets no email.
PEOPLE = (
    ("ada", ["sdr"], "east", "ada@example.com"),
    ("ben", ["ae"], "east", "ben@example.com"),
    ("cyd", ["ae"], "west", None),
    ("max", ["manager"], "east", "max@example.com"),
    ("wes", ["manager"], "west", "wes@example.com"),
    ("root", ["admin"], None, "root@example.com"),
)
SECRET = "a-webhook-secret-of-some-length"
FAST = Policy(timeout=0.5, max_attempts=3, first_retry=timedelta(minutes=1), longest_wait=timedelta(hours=1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def people(uow_factory: Factory) -> Factory:
    """The standard process and a team with email addresses (but cyd's)."""
    with uow_factory() as uow:
        ws.install_process(uow=uow, source=load_template("standard")[1], name="standard.yaml")
    for user_id, roles, team, email in PEOPLE:
        with uow_factory() as uow:
            ws.add_user(uow=uow, user_id=user_id, name=user_id.title(), roles=roles, team=team, email=email)
    return uow_factory


class _Handler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds to take over each message, as a busy server would

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


@dataclass
class Mailbox:
    """A real SMTP server on a local port, and what it received."""

    port: int
    handler: _Handler = field(default_factory=_Handler)
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    def settings(self) -> Settings:
        return Settings(smtp_host="127.0.0.1", smtp_port=self.port, smtp_from="dealflow@example.com")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """An SMTP server that is up; ``stop()`` and ``start()`` take it down and back."""
    box = Mailbox(free_port())
    box.start()
    yield box
    box.stop()


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


@dataclass
class Received:
    """One webhook call as the receiving server saw it, with whether its signature checked out."""

    headers: dict[str, str]
    body: bytes
    signed: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Target:
    """A local HTTP server receiving webhook calls; ``answers`` is the status to give each call in
    turn (the last one repeats), ``delay`` seconds to wait before answering."""

    answers: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    calls: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/dealflow"


@pytest.fixture
def target() -> Iterator[Target]:
    found = Target()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            signed = hmac.compare_digest(self.headers.get("X-Dealflow-Signature", ""), expected)
            with lock:
                found.calls.append(Received(dict(self.headers.items()), body, signed))
                status = found.answers[min(len(found.calls) - 1, len(found.answers) - 1)]
            time.sleep(found.delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    found.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.server.daemon_threads = True
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


def configure(engine: Engine, settings: Settings | None = None, policy: Policy = FAST) -> None:
    delivery.configure(engine, settings or Settings(), policy)


def outbox_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return connection.execute(select(t.outbox).order_by(t.outbox.c.id)).all()


def attempts(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return connection.execute(select(t.delivery_attempts).order_by(t.delivery_attempts.c.id)).all()


@pytest.fixture
def workspace(capsys: pytest.CaptureFixture[str], database_url: str) -> Cli:
    """The command line on a workspace made with ``dealflow init`` (founder is its admin)."""
    cli = Cli(capsys, database_url)
    assert cli("init", "--user", "founder") == 0, cli.err
    return cli
