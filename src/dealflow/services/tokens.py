"""API tokens for scripts: random, shown once, stored as a digest, revocable, recorded as events."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row

from dealflow.domain import access
from dealflow.domain import events as ev
from dealflow.domain.decisions import Actor
from dealflow.domain.events import Event
from dealflow.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from dealflow.services.auth import TOUCH_EVERY, Principal, digest
from dealflow.services.lookups import load_actor
from dealflow.services.recording import record_events
from dealflow.store import credentials
from dealflow.store.unit_of_work import UnitOfWork

PREFIX = "dft_"
_SHAPE = re.compile(r"^dft_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class ApiToken:
    """What is kept of an API token: everything but the token itself."""

    id: str
    user_id: str
    name: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> ApiToken:
        """The token described by a stored row."""
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


def _owner_for(actor: Actor, user_id: str | None, what: str) -> str:
    """The user whose tokens are meant: the actor's own, or anyone's for revops and admins."""
    if user_id is None or user_id == actor.id:
        return actor.id
    refusal = access.may_administer(actor, what)
    if refusal:
        raise Forbidden(refusal)
    return user_id


def create_token(
    *, uow: UnitOfWork, actor_id: str, name: str, user_id: str | None = None, expires_in: timedelta | None = None
) -> tuple[ApiToken, str]:
    """Make an API token for the actor (or, for revops and admins, another user); the token is
    returned only here and only its digest is stored."""
    connection, now = uow.connection, uow.clock()
    actor = load_actor(connection, user_id=actor_id)
    owner = load_actor(connection, user_id=_owner_for(actor, user_id, "make tokens for other users")).id
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("must be 1-100 characters (say what the token is for)", field="name")
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput("must be a positive duration", field="expires_in")
    token, token_id = PREFIX + secrets.token_urlsafe(32), "tok_" + secrets.token_hex(8)
    expires = None if expires_in is None else now + expires_in
    row = {"id": token_id, "user_id": owner, "name": name, "created_at": now, "created_by": actor.id}
    credentials.insert_token(connection, **row, token_hash=digest(token), expires_at=expires)
    data = {"id": token_id, "name": name, "expires_at": None if expires is None else expires.isoformat()}
    record_events(uow, [Event(ev.API_TOKEN_CREATED, f"user:{owner}", now, actor.id, data)])
    uow.commit()
    return ApiToken(token_id, owner, name, now, actor.id, expires, None, None), token


def list_tokens(*, uow: UnitOfWork, actor_id: str, user_id: str | None = None, every: bool = False) -> list[ApiToken]:
    """The actor's tokens; another user's, or with ``every`` everyone's, for revops and admins."""
    actor = load_actor(uow.connection, user_id=actor_id)
    if every:
        if refusal := access.may_administer(actor, "list every user's tokens"):
            raise Forbidden(refusal)
        return [ApiToken.of(r) for r in credentials.list_tokens(uow.connection)]
    owner = _owner_for(actor, user_id, "list other users' tokens")
    return [ApiToken.of(r) for r in credentials.list_tokens(uow.connection, user_id=owner)]


def _token_named(connection: Connection, actor: Actor, token: str) -> Row[Any]:
    """The token with this id, else the actor's one active token with this name."""
    row = credentials.get_token(connection, token_id=token)
    if row is not None:
        return row
    named = [r for r in credentials.list_tokens(connection, user_id=actor.id) if r.name == token and not r.revoked_at]
    if len(named) > 1:
        ids = ", ".join(r.id for r in named)
        raise InvalidInput(f"{len(named)} of your tokens are named {token!r}: give its id ({ids})", field="token")
    if not named:
        raise NotFound(f"no API token '{token[:100]}' (give its id or its name, as `dealflow token list` shows)")
    return named[0]


def revoke_token(*, uow: UnitOfWork, actor_id: str, token_id: str) -> ApiToken:
    """Revoke a token at once, named by its id or, among the actor's own, by its name: its owner or a
    revops or admin user may."""
    connection, now = uow.connection, uow.clock()
    actor = load_actor(connection, user_id=actor_id)
    row = _token_named(connection, actor, token_id)
    token_id = row.id
    _owner_for(actor, row.user_id, "revoke other users' tokens")
    if row.revoked_at is not None:
        raise Conflict(f"API token {token_id} was already revoked")
    credentials.mark_token(connection, token_id=token_id, revoked_at=now)
    record_events(uow, [Event(ev.API_TOKEN_REVOKED, f"user:{row.user_id}", now, actor.id, {"id": token_id})])
    uow.commit()
    return ApiToken.of(credentials.get_token(connection, token_id=token_id))


def authenticate_token(*, uow: UnitOfWork, token: str) -> Principal:
    """The principal of a bearer token; Unauthenticated if it is unknown, revoked or expired."""
    connection, now = uow.connection, uow.clock()
    row = credentials.token_with_user(connection, token_hash=digest(token)) if _SHAPE.match(token) else None
    if row is None:
        raise Unauthenticated("unknown API token")
    if row.revoked_at is not None:
        raise Unauthenticated(f"API token {row.id} was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated(f"API token {row.id} expired")
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        credentials.mark_token(connection, token_id=row.id, last_used_at=now)
        uow.commit()
    actor = Actor(id=row.user_id, roles=tuple(row.roles), team=row.team)
    return Principal(actor, row.user_name, "token", row.id)
