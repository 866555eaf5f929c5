"""Logging in and out: argon2id passwords, server-side sessions with their CSRF token, the login limit.

Nothing here speaks HTTP: the API and the pages hand over a user name, a password and the
client's address, and get back a session whose token goes into a cookie. Every fact lives in
the database (no state in the process), so several app instances can share one workspace.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dealflow.domain import access
from dealflow.domain import events as ev
from dealflow.domain.decisions import Actor
from dealflow.domain.events import Event
from dealflow.errors import Forbidden, InvalidInput, NotFound, TooManyAttempts, Unauthenticated
from dealflow.services.lookups import load_actor
from dealflow.services.recording import record_events
from dealflow.settings import Settings
from dealflow.store import credentials, queries
from dealflow.store.unit_of_work import UnitOfWork

SYSTEM = "system"
MIN_PASSWORD, MAX_PASSWORD = 10, 1024
# A session's last use is written at most this often, so reading pages does not write on every request.
TOUCH_EVERY = timedelta(minutes=1)
_HASHER = PasswordHasher()  # argon2id with the RFC 9106 low-memory parameters


@cache
def _dummy_hash() -> str:
    """Checked when the user name is unknown, so a wrong name costs as much time as a wrong
    password; made on first use (about 0.2 s), not as every command starts."""
    return _HASHER.hash(secrets.token_urlsafe(16))


# Checking a password is CPU-bound (argon2id: tens of milliseconds and 64 MiB each). Logins take
# these slots before opening their unit of work, so a burst of them waits here holding no database
# connection, instead of emptying the pool for every other request (50 logins at once: 500s).
LOGIN_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))


@dataclass(frozen=True)
class AuthPolicy:
    """How long sessions last and how many failed logins are tolerated, per user name and per address."""

    session_idle: timedelta = timedelta(hours=8)
    session_lifetime: timedelta = timedelta(days=14)
    login_window: timedelta = timedelta(minutes=15)
    failures_per_user: int = 5
    failures_per_address: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthPolicy:
        """The policy the settings ask for."""
        return cls(
            session_idle=timedelta(minutes=settings.session_idle_minutes),
            session_lifetime=timedelta(days=settings.session_days),
            login_window=timedelta(minutes=settings.login_window_minutes),
            failures_per_user=settings.login_failures_per_user,
            failures_per_address=settings.login_failures_per_address,
        )


@dataclass(frozen=True)
class Principal:
    """Who a request comes from, and how they proved it: a session (with its CSRF token) or an API token."""

    actor: Actor
    name: str
    via: Literal["session", "token"]
    credential: str  # the session's digest or the API token's id
    csrf_token: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class NewSession:
    """A session just opened: the token for the cookie (shown only now) and who it belongs to."""

    token: str
    principal: Principal


def digest(token: str) -> str:
    """The SHA-256 digest under which a session or API token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of a password that meets the length rules."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long", field="password")
    return _HASHER.hash(password)


def _verify(hashed: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(hashed or _dummy_hash(), password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def set_password(
    *,
    uow: UnitOfWork,
    user_id: str,
    password: str,
    actor_id: str | None = None,
    current_password: str | None = None,
    keep_session: str | None = None,
) -> None:
    """Set a user's password and end their other sessions. Users change their own with their current
    password; revops and admins set anyone's; with no actor, the operator at the command line does."""
    connection = uow.connection
    if queries.get_user(connection, user_id=user_id) is None:
        raise NotFound(f"no user '{user_id}'")
    if actor_id is not None and actor_id != user_id:
        refusal = access.may_administer(load_actor(connection, user_id=actor_id), "set another user's password")
        if refusal:
            raise Forbidden(refusal)
    elif actor_id is not None:
        stored = credentials.password_hash(connection, user_id=user_id)
        if stored is not None and not _verify(stored, current_password or ""):
            raise InvalidInput("is not your current password", field="current_password")
    now = uow.clock()
    credentials.save_password_hash(connection, user_id=user_id, hashed=hash_password(password), now=now)
    credentials.delete_sessions(connection, user_id=user_id, keep=keep_session)
    record_events(uow, [Event(ev.PASSWORD_CHANGED, f"user:{user_id}", now, actor_id or SYSTEM, {})])
    uow.commit()


def _check_limit(uow: UnitOfWork, policy: AuthPolicy, *, user_name: str, address: str) -> None:
    """Refuse a login while the user name or the address has too many recent failures."""
    now = uow.clock()
    since = now - policy.login_window
    for label, limit, key in (
        ("this user name", policy.failures_per_user, {"user_name": user_name}),
        ("your address", policy.failures_per_address, {"address": address}),
    ):
        if credentials.count_failures(uow.connection, since=since, **key) >= limit:
            oldest = credentials.oldest_failure(uow.connection, since=since, **key) or now
            wait = max(1, math.ceil((oldest + policy.login_window - now).total_seconds()))
            raise TooManyAttempts(
                f"too many failed logins for {label}; try again in {math.ceil(wait / 60)} minute(s)", retry_after=wait
            )


def login(
    *,
    uow: UnitOfWork,
    user_name: str,
    password: str,
    address: str,
    policy: AuthPolicy,
    user_agent: str | None = None,
) -> NewSession:
    """Check a user name and password (within the failure limit) and open a session."""
    user_name = user_name.strip().lower()[:64]
    _check_limit(uow, policy, user_name=user_name, address=address)
    connection, now = uow.connection, uow.clock()
    row = queries.get_user(connection, user_id=user_name) if user_name else None
    stored = credentials.password_hash(connection, user_id=user_name) if row is not None else None
    if not _verify(stored, password):
        credentials.record_attempt(connection, user_name=user_name, address=address, now=now, succeeded=False)
        uow.commit()
        raise Unauthenticated("wrong user name or password")
    assert row is not None
    assert stored is not None
    if _HASHER.check_needs_rehash(stored):
        credentials.save_password_hash(connection, user_id=row.id, hashed=_HASHER.hash(password), now=now)
    credentials.forget_attempts(connection, before=now - policy.login_window, user_name=user_name)
    credentials.delete_expired_sessions(connection, now=now)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = min(now + policy.session_idle, now + policy.session_lifetime)
    credentials.insert_session(
        connection, id=digest(token), user_id=row.id, csrf_token=csrf, created_at=now, last_seen_at=now,
        expires_at=expires, address=address[:64], user_agent=(user_agent or "")[:300] or None,
    )  # fmt: skip
    uow.commit()
    actor = Actor(id=row.id, roles=tuple(row.roles), team=row.team)
    return NewSession(token, Principal(actor, row.name, "session", digest(token), csrf, expires))


def authenticate_session(*, uow: UnitOfWork, token: str, policy: AuthPolicy) -> Principal:
    """The principal of a session token, pushing its expiry forward; Unauthenticated once it ended."""
    connection, now = uow.connection, uow.clock()
    session_id = digest(token)
    row = credentials.session_with_user(connection, session_id=session_id)
    if row is None:
        raise Unauthenticated("your session has ended: log in again")
    if row.expires_at <= now:
        credentials.delete_sessions(connection, session_id=session_id)
        uow.commit()
        raise Unauthenticated("your session expired: log in again")
    expires = row.expires_at
    if now - row.last_seen_at >= TOUCH_EVERY:
        expires = min(now + policy.session_idle, row.created_at + policy.session_lifetime)
        credentials.touch_session(connection, session_id=session_id, now=now, expires_at=expires)
        uow.commit()
    actor = Actor(id=row.user_id, roles=tuple(row.roles), team=row.team)
    return Principal(actor, row.user_name, "session", session_id, row.csrf_token, expires)


def check_csrf(principal: Principal, supplied: str | None) -> None:
    """Refuse an unsafe request made with a session cookie unless it carries the session's CSRF token."""
    if principal.via != "session":
        return
    if not supplied:
        raise Forbidden("missing CSRF token: send the X-CSRF-Token header (or a csrf_token form field)")
    if principal.csrf_token is None or not secrets.compare_digest(supplied.encode(), principal.csrf_token.encode()):
        raise Forbidden("the CSRF token does not match your session: reload the page and try again")


def logout(*, uow: UnitOfWork, session_id: str) -> None:
    """End a session (by its digest, as a Principal holds it)."""
    credentials.delete_sessions(uow.connection, session_id=session_id)
    uow.commit()
