"""What routes ask for: the workspace, who is asking (session cookie or bearer token, with the CSRF
check on unsafe cookie requests), paging, and a writer that makes creating requests idempotent.

The pages reuse :class:`Workspace`, :func:`authenticate` and the cookie name, so a browser and a
script are admitted by the same rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.responses import Response
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Engine

from dealflow.domain.decisions import Actor
from dealflow.errors import Conflict, InvalidInput, Unauthenticated
from dealflow.services import auth, tokens
from dealflow.services.auth import AuthPolicy, Principal
from dealflow.settings import Settings
from dealflow.store import idempotency
from dealflow.store.idempotency import HeldUnitOfWork
from dealflow.store.listings import Window
from dealflow.store.unit_of_work import Clock, UnitOfWork

SESSION_COOKIE = "dealflow_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_KEY = 255
SECRET_FIELDS = frozenset({"password", "current_password", "new_password"})


@dataclass(frozen=True)
class Workspace:
    """What every request works on: the database, the clock, the settings and the login policy."""

    engine: Engine
    clock: Clock
    settings: Settings
    policy: AuthPolicy

    def unit(self) -> UnitOfWork:
        """A unit of work for one action."""
        return UnitOfWork(self.engine, clock=self.clock)


def get_workspace(request: Request) -> Workspace:
    """The workspace the app was created on."""
    workspace: Workspace = request.app.state.workspace
    return workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
_bearer = HTTPBearer(auto_error=False, description="An API token made with `dealflow token create`.")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The session cookie set at login.")
_csrf = APIKeyHeader(name=CSRF_HEADER, auto_error=False, description="The session's CSRF token (unsafe requests).")


def authenticate(workspace: Workspace, *, bearer: str | None, cookie: str | None) -> Principal:
    """Who is asking: the bearer token's user if one is given, else the session cookie's."""
    with workspace.unit() as uow:
        if bearer:
            return tokens.authenticate_token(uow=uow, token=bearer)
        if cookie:
            return auth.authenticate_session(uow=uow, token=cookie, policy=workspace.policy)
    raise Unauthenticated("log in first: send the session cookie, or an Authorization: Bearer API token")


async def supplied_csrf(request: Request, header: Annotated[str | None, Depends(_csrf)]) -> str | None:
    """The CSRF token sent with a request: the header, or a form's ``csrf_token`` field."""
    if header or request.method in SAFE_METHODS:
        return header
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def current_principal(
    request: Request,
    workspace: WorkspaceDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
    csrf: Annotated[str | None, Depends(supplied_csrf)],
) -> Principal:
    """Who is asking; an unsafe request on a session cookie must carry the session's CSRF token."""
    principal = authenticate(workspace, bearer=bearer.credentials if bearer else None, cookie=cookie)
    if request.method not in SAFE_METHODS:
        auth.check_csrf(principal, csrf)
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def paging(
    limit: Annotated[int, Query(ge=1, le=500, description="How many to return.")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="How many to skip.")] = 0,
) -> Window:
    """The slice of a list asked for."""
    return Window(limit=limit, offset=offset)


Paging = Annotated[Window, Depends(paging)]


class Writer:
    """Runs one change in one unit of work and answers with its result; given an Idempotency-Key,
    the answer is stored with the change, and a retry with the same key and request replays it."""

    def __init__(self, workspace: Workspace, principal: Principal, key: str | None, fingerprint: str) -> None:
        self.workspace, self.principal, self.key, self.fingerprint = workspace, principal, key, fingerprint

    @property
    def actor(self) -> Actor:
        """The user making the change."""
        return self.principal.actor

    def run(self, action: Callable[[UnitOfWork], BaseModel], *, status_code: int = 200) -> Response:
        """Run ``action`` and answer with what it returns (or replay the answer stored under the key)."""
        if self.key is None:
            with self.workspace.unit() as uow:
                return _json(action(uow).model_dump_json(), status_code)
        if (replayed := self._replay()) is not None:
            return replayed
        try:
            with HeldUnitOfWork(self.workspace.engine, clock=self.workspace.clock) as uow:
                body = action(uow).model_dump_json()
                idempotency.save(
                    uow.connection, user_id=self.actor.id, key=self.key, fingerprint=self.fingerprint,
                    status_code=status_code, response=body, now=uow.clock(),
                )  # fmt: skip
                uow.release()
        except Conflict:
            # A request with the same key committed first: answer as it was answered.
            if (replayed := self._replay()) is not None:
                return replayed
            raise
        return _json(body, status_code)

    def _replay(self) -> Response | None:
        assert self.key is not None
        with self.workspace.unit() as uow:
            row = idempotency.find(uow.connection, user_id=self.actor.id, key=self.key, now=uow.clock())
        if row is None:
            return None
        if row.fingerprint != self.fingerprint:
            raise InvalidInput(
                "was already used for a different request: send a new key with a new request",
                field="Idempotency-Key",
            )
        return _json(row.response, row.status_code, replayed=True)


def _json(body: str, status_code: int, *, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def _canonical(body: bytes) -> bytes:
    """The body in one spelling, its secrets left out (the fingerprint is stored; a password is not)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if isinstance(parsed, dict):
        parsed = {k: v for k, v in parsed.items() if k not in SECRET_FIELDS}
    return json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()


async def writer(
    request: Request,
    workspace: WorkspaceDep,
    principal: CurrentUser,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="A unique key for this request (up to 255 characters): a retry with the same key "
            "and body is answered as the first one was, without acting twice; kept 24 hours.",
        ),
    ] = None,
) -> Writer:
    """A writer for this request, fingerprinting it when it carries an Idempotency-Key."""
    if key is not None and not (0 < len(key) <= MAX_KEY and key.isascii() and key.isprintable()):
        raise InvalidInput(f"must be 1-{MAX_KEY} printable ASCII characters", field="Idempotency-Key")
    fingerprint = ""
    if key is not None:
        target = f"{request.method} {request.url.path}?{request.url.query}\n".encode()
        fingerprint = hashlib.sha256(target + _canonical(await request.body())).hexdigest()
    return Writer(workspace, principal, key, fingerprint)


WriterDep = Annotated[Writer, Depends(writer)]


def set_session_cookie(response: Response, request: Request, workspace: Workspace, token: str) -> None:
    """Put a session token in an HttpOnly, SameSite=Lax cookie, Secure when served over https."""
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(workspace.policy.session_lifetime.total_seconds()), path="/",
        httponly=True, samesite="lax", secure=_secure(request, workspace),
    )  # fmt: skip


def clear_session_cookie(response: Response, request: Request, workspace: Workspace) -> None:
    """Tell the browser to drop the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request, workspace))


def _secure(request: Request, workspace: Workspace) -> bool:
    chosen = workspace.settings.secure_cookies
    return request.url.scheme == "https" if chosen is None else chosen


def client_address(request: Request) -> str:
    """The client's address, as the server (or a trusted proxy) reports it."""
    return request.client.host if request.client else "unknown"
