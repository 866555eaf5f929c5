"""Reading and writing passwords, sessions, API tokens and login attempts (never a secret in the clear)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from dealflow.store import tables as t


def password_hash(connection: Connection, *, user_id: str) -> str | None:
    """The stored hash of a user's password, or None when they have none."""
    query = select(t.credentials.c.password_hash).where(t.credentials.c.user_id == user_id)
    found = connection.execute(query).scalar()
    return None if found is None else str(found)


def save_password_hash(connection: Connection, *, user_id: str, hashed: str, now: datetime) -> None:
    """Store (or replace) a user's password hash."""
    c = t.credentials
    changed = connection.execute(update(c).where(c.c.user_id == user_id).values(password_hash=hashed, set_at=now))
    if changed.rowcount == 0:
        connection.execute(insert(c).values(user_id=user_id, password_hash=hashed, set_at=now))


def count_failures(
    connection: Connection, *, since: datetime, user_name: str | None = None, address: str | None = None
) -> int:
    """Failed logins since ``since`` for one user name or from one address."""
    a = t.login_attempts
    query = select(func.count()).where(a.c.at >= since, a.c.succeeded.is_(False))
    if user_name is not None:
        query = query.where(a.c.user_name == user_name)
    if address is not None:
        query = query.where(a.c.address == address)
    return int(connection.execute(query).scalar() or 0)


def oldest_failure(
    connection: Connection, *, since: datetime, user_name: str | None = None, address: str | None = None
) -> datetime | None:
    """The earliest failed login since ``since`` for a user name or address (when the window frees up)."""
    a = t.login_attempts
    query = select(func.min(a.c.at)).where(a.c.at >= since, a.c.succeeded.is_(False))
    if user_name is not None:
        query = query.where(a.c.user_name == user_name)
    if address is not None:
        query = query.where(a.c.address == address)
    found: datetime | None = connection.execute(query).scalar()
    return found


def record_attempt(connection: Connection, *, user_name: str, address: str, now: datetime, succeeded: bool) -> None:
    """Remember one login attempt."""
    row = {"user_name": user_name[:64], "address": address[:64], "at": now, "succeeded": succeeded}
    connection.execute(insert(t.login_attempts).values(**row))


def forget_attempts(connection: Connection, *, before: datetime, user_name: str | None = None) -> None:
    """Drop attempts older than ``before`` (and, after a success, the user name's earlier failures)."""
    a = t.login_attempts
    connection.execute(delete(a).where(a.c.at < before))
    if user_name is not None:
        connection.execute(delete(a).where(a.c.user_name == user_name, a.c.succeeded.is_(False)))


def insert_session(connection: Connection, **row: Any) -> None:
    """Store a new session row (its id is the digest of the token the cookie holds)."""
    connection.execute(insert(t.sessions).values(**row))


def session_with_user(connection: Connection, *, session_id: str) -> Row[Any] | None:
    """A session and its user's row, or None when no such session exists."""
    s, u = t.sessions, t.users
    query = (
        select(s, u.c.name.label("user_name"), u.c.roles, u.c.team)
        .join(u, u.c.id == s.c.user_id)
        .where(s.c.id == session_id)
    )
    return connection.execute(query).first()


def touch_session(connection: Connection, *, session_id: str, now: datetime, expires_at: datetime) -> None:
    """Note the session was used, pushing its expiry forward."""
    s = t.sessions
    connection.execute(update(s).where(s.c.id == session_id).values(last_seen_at=now, expires_at=expires_at))


def delete_sessions(
    connection: Connection, *, session_id: str | None = None, user_id: str | None = None, keep: str | None = None
) -> int:
    """Delete one session, or every session of a user (but ``keep``); returns how many."""
    s = t.sessions
    query = delete(s)
    if session_id is not None:
        query = query.where(s.c.id == session_id)
    if user_id is not None:
        query = query.where(s.c.user_id == user_id)
    if keep is not None:
        query = query.where(s.c.id != keep)
    return int(connection.execute(query).rowcount)


def delete_expired_sessions(connection: Connection, *, now: datetime) -> None:
    """Drop sessions that have expired."""
    connection.execute(delete(t.sessions).where(t.sessions.c.expires_at <= now))


def insert_token(connection: Connection, **row: Any) -> None:
    """Store a new API token row (its hash, never the token)."""
    connection.execute(insert(t.api_tokens).values(**row))


def token_with_user(connection: Connection, *, token_hash: str) -> Row[Any] | None:
    """The API token with this hash and its user's row, or None."""
    k, u = t.api_tokens, t.users
    query = (
        select(k, u.c.name.label("user_name"), u.c.roles, u.c.team)
        .join(u, u.c.id == k.c.user_id)
        .where(k.c.token_hash == token_hash)
    )
    return connection.execute(query).first()


def get_token(connection: Connection, *, token_id: str) -> Row[Any] | None:
    """An API token's row by its public id, or None."""
    return connection.execute(select(t.api_tokens).where(t.api_tokens.c.id == token_id)).first()


def list_tokens(connection: Connection, *, user_id: str | None = None) -> Sequence[Row[Any]]:
    """API tokens, newest first, of one user or of everyone."""
    k = t.api_tokens
    query = select(k).order_by(k.c.created_at.desc(), k.c.id)
    if user_id is not None:
        query = query.where(k.c.user_id == user_id)
    return connection.execute(query).all()


def mark_token(connection: Connection, *, token_id: str, **values: datetime) -> None:
    """Set a token's ``last_used_at`` or ``revoked_at``."""
    connection.execute(update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(**values))
