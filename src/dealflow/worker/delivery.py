"""Delivering the outbox: emails over SMTP, webhooks as signed JSON POSTs.

Each pass claims the rows due (see :mod:`dealflow.store.outbox`), tries each once, logs the
attempt and sets the row's status: sent, failed (tried again after an exponential backoff with
jitter) or dead after ``delivery_max_attempts`` tries. A webhook target that times out or answers
5xx costs an attempt; an SMTP server that cannot be reached never makes an email dead: it waits
(at most the longest wait between tries) until the server is back.

A webhook call carries ``X-Dealflow-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body
with the webhook's secret, with ``X-Dealflow-Timestamp`` (Unix seconds), ``X-Dealflow-Event``
and ``X-Dealflow-Delivery`` (the same on every retry of one delivery, to drop duplicates).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import socket
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self

import httpx2 as httpx
from sqlalchemy import Engine, Row, select

from dealflow.settings import Settings
from dealflow.store import outbox
from dealflow.store import tables as t
from dealflow.store.outbox import Attempt, Tried

SIGNATURE_HEADER = "X-Dealflow-Signature"
_SETTINGS_KEY = "dealflow_settings"


@dataclass(frozen=True)
class Policy:
    """How deliveries are paced: timeouts, tries, backoff, and how much one pass takes on."""

    timeout: float = 5.0
    max_attempts: int = 8
    first_retry: timedelta = timedelta(seconds=30)
    longest_wait: timedelta = timedelta(hours=6)
    lease: timedelta = timedelta(minutes=5)
    batch: int = 20  # rows claimed at once: at most batch x timeout under one lease
    per_pass: int = 2000

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        """The policy the settings ask for."""
        return cls(timeout=settings.delivery_timeout_seconds, max_attempts=settings.delivery_max_attempts)


def configure(engine: Engine, settings: Settings, policy: Policy | None = None) -> None:
    """Give the jobs on ``engine`` these settings (SMTP server...) and delivery policy."""
    engine.__dict__[_SETTINGS_KEY] = (settings, policy or Policy.of(settings))


def configuration(engine: Engine) -> tuple[Settings, Policy]:
    """The settings and policy given to ``engine``, else those of the environment."""
    found: tuple[Settings, Policy] | None = engine.__dict__.get(_SETTINGS_KEY)
    if found is None:
        settings = Settings()
        found = (settings, Policy.of(settings))
    return found


def worker_name() -> str:
    """Who is claiming: this host, process and thread."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{threading.get_ident() % 100000}"


def sign(secret: str, body: bytes) -> str:
    """The signature header value of ``body``: ``sha256=`` and the hex HMAC-SHA256 with ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Mailer:
    """One SMTP connection for a pass, opened at the first email and again after a failure."""

    def __init__(self, settings: Settings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None
        self.down: str | None = None  # why the server could not be reached in this pass

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        assert s.smtp_host is not None
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
        try:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, payload: dict[str, Any]) -> Attempt:
        """Send one email; a failure closes the connection, so the next email opens a fresh one."""
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = payload["to"]
        message["Subject"] = payload["subject"]
        message.set_content(payload["body"])
        started = time.perf_counter()
        where = f"SMTP {self.settings.smtp_host}:{self.settings.smtp_port}"
        if self.down is not None:  # not tried again in this pass: each try would wait as long
            return Attempt(False, None, f"{where}: not tried, unreachable in this pass ({self.down})", 0.0, True)
        if self.smtp is None:
            try:
                self.smtp = self._connect()
            except (OSError, smtplib.SMTPException) as exc:
                self.down = _error(exc)
                return Attempt(False, getattr(exc, "smtp_code", None), f"{where}: {self.down}", _ms(started), True)
        try:
            self.smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            code = getattr(exc, "smtp_code", None)
            return Attempt(False, code, f"{where}: {_error(exc)}", _ms(started))
        return Attempt(True, 250, None, _ms(started))

    def close(self) -> None:
        """Say goodbye to the server, if connected."""
        smtp, self.smtp = self.smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def post_webhook(client: httpx.Client, hook: Row[Any] | None, row: Row[Any], now: datetime) -> Attempt:
    """POST one event to a webhook, signed; a 2xx answer is a delivery, anything else a failure."""
    if hook is None or not hook.active:
        return Attempt(False, None, "the webhook was removed or turned off")
    body = json.dumps({"delivery": row.key, **row.payload}, separators=(",", ":"), sort_keys=True).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "dealflow-webhooks",
        SIGNATURE_HEADER: sign(hook.secret, body),
        "X-Dealflow-Timestamp": str(int(now.timestamp())),
        "X-Dealflow-Event": str(row.payload.get("event")),
        "X-Dealflow-Delivery": row.key,
    }
    started = time.perf_counter()
    try:
        response = client.post(hook.url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        return Attempt(False, None, f"timed out after {client.timeout.read}s: {_error(exc)}", _ms(started))
    except httpx.HTTPError as exc:
        return Attempt(False, None, _error(exc), _ms(started))
    ok = 200 <= response.status_code < 300
    error = None if ok else f"HTTP {response.status_code}: {response.text[:200]}"
    return Attempt(ok, response.status_code, error, _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def deliver_outbox(engine: Engine, now: datetime) -> int:
    """Deliver what is due in the outbox at ``now``; returns the messages sent."""
    settings, policy = configuration(engine)
    worker = worker_name()
    kinds = [outbox.WEBHOOK] + ([outbox.EMAIL] if settings.smtp_host else [])
    sent = tried = 0
    client: httpx.Client | None = None  # made at the first webhook: it costs a TLS context
    with Mailer(settings, policy.timeout) as mailer, ExitStack() as stack:
        hooks: dict[str, Row[Any] | None] = {}
        while tried < policy.per_pass:
            with engine.begin() as connection:
                rows = outbox.claim(
                    connection, worker=worker, now=now, limit=policy.batch, lease=policy.lease, kinds=kinds
                )
            if not rows:
                break
            done = []
            for row in rows:
                tries = policy.max_attempts
                if row.kind == outbox.EMAIL:
                    attempt = mailer.send(row.payload)
                else:
                    if row.webhook_id not in hooks:
                        hooks[row.webhook_id] = _webhook(engine, row.webhook_id)
                    hook = hooks[row.webhook_id]
                    if client is None:
                        client = stack.enter_context(httpx.Client(timeout=policy.timeout))
                    attempt = post_webhook(client, hook, row, now)
                    if hook is None or not hook.active:
                        tries = 1  # no use trying again
                retry_in = outbox.backoff(row.attempts + 1, base=policy.first_retry, cap=policy.longest_wait)
                done.append(Tried(row, attempt, tries, retry_in))
            # One commit per claimed batch: a crash before it sends the batch again after the
            # lease (at least once, never lost), and the receivers can drop repeats by key.
            with engine.begin() as connection:
                sent += outbox.finish(connection, done, worker=worker, now=now).count("sent")
            tried += len(done)
    return sent


def _webhook(engine: Engine, webhook_id: str | None) -> Row[Any] | None:
    with engine.connect() as connection:
        return connection.execute(select(t.webhooks).where(t.webhooks.c.id == webhook_id)).first()
