"""``/auth``: logging in and out with a password, the current session, changing your password."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dealflow.api.schemas.people import LoginRequest, PasswordChange, SessionPublic
from dealflow.errors import InvalidInput
from dealflow.server.dependencies import (
    CurrentUser,
    WorkspaceDep,
    clear_session_cookie,
    client_address,
    set_session_cookie,
)
from dealflow.server.errors import ERROR_RESPONSES, ErrorBody
from dealflow.services import auth

router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)


@router.post(
    "/login",
    responses={429: {"model": ErrorBody, "description": "Too many failed logins; Retry-After says when to retry"}},
)
def login(body: LoginRequest, request: Request, response: Response, workspace: WorkspaceDep) -> SessionPublic:
    """Log in with a user name and password: sets the session cookie and returns the CSRF token."""
    with auth.LOGIN_SLOTS, workspace.unit() as uow:
        opened = auth.login(
            uow=uow, user_name=body.user, password=body.password, address=client_address(request),
            policy=workspace.policy, user_agent=request.headers.get("user-agent"),
        )  # fmt: skip
    set_session_cookie(response, request, workspace, opened.token)
    return SessionPublic.of(opened.principal)


@router.post("/logout", status_code=204)
def logout(principal: CurrentUser, request: Request, workspace: WorkspaceDep) -> Response:
    """End the current session (its cookie stops working at once, on every app instance)."""
    if principal.via != "session":
        raise InvalidInput(
            "you are using an API token: revoke it with DELETE /api/v1/tokens/{id}", field="Authorization"
        )
    with workspace.unit() as uow:
        auth.logout(uow=uow, session_id=principal.credential)
    response = Response(status_code=204)
    clear_session_cookie(response, request, workspace)
    return response


@router.get("/session")
def current_session(principal: CurrentUser) -> SessionPublic:
    """Who you are, your roles and team, and the CSRF token of your session."""
    return SessionPublic.of(principal)


@router.put("/password", status_code=204)
def change_password(body: PasswordChange, principal: CurrentUser, workspace: WorkspaceDep) -> Response:
    """Change your own password; your other sessions end."""
    me = principal.actor.id
    keep = principal.credential if principal.via == "session" else None
    with workspace.unit() as uow:
        auth.set_password(
            uow=uow, user_id=me, password=body.new_password, actor_id=me, current_password=body.current_password,
            keep_session=keep,
        )  # fmt: skip
    return Response(status_code=204)
