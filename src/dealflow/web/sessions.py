"""Who is looking at a page: the session cookie checked as the API checks it, and the CSRF token on
every form and HTMX request that changes something. A page never accepts an API token."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Cookie, Depends, Request

from dealflow.errors import Unauthenticated
from dealflow.server.dependencies import SESSION_COOKIE, WorkspaceDep, authenticate, supplied_csrf
from dealflow.services import auth
from dealflow.services.auth import Principal


class LoginRequired(Exception):
    """No session, or it ended: the browser is sent to the login page, then back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def login_url(next_path: str) -> str:
    """The login page, returning to ``next_path`` afterwards."""
    return f"/login?next={quote(next_path, safe='/')}"


def page_user(
    request: Request,
    workspace: WorkspaceDep,
    cookie: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> Principal:
    """The user of the session cookie; LoginRequired without a live session."""
    target = request.url.path if request.method == "GET" else request.headers.get("HX-Current-URL", "/")
    if not cookie:
        raise LoginRequired(target)
    try:
        return authenticate(workspace, bearer=None, cookie=cookie)
    except Unauthenticated:
        raise LoginRequired(target) from None


def page_writer(
    principal: Annotated[Principal, Depends(page_user)],
    csrf: Annotated[str | None, Depends(supplied_csrf)],
) -> Principal:
    """The user of a request that changes something, which must carry the session's CSRF token."""
    auth.check_csrf(principal, csrf)
    return principal


PageUser = Annotated[Principal, Depends(page_user)]
PageWriter = Annotated[Principal, Depends(page_writer)]
