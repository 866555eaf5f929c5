"""Logging in and out of the pages: the same sessions as the API's, set as an HttpOnly cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dealflow.errors import TooManyAttempts, Unauthenticated
from dealflow.server.dependencies import (
    SESSION_COOKIE,
    WorkspaceDep,
    clear_session_cookie,
    client_address,
    set_session_cookie,
)
from dealflow.services import auth
from dealflow.web import forms
from dealflow.web.rendering import render
from dealflow.web.sessions import PageWriter

router = APIRouter()


def _safe_next(raw: object) -> str:
    """Only a path on this site: never a redirect elsewhere."""
    value = raw if isinstance(raw, str) else ""
    return value if value.startswith("/") and not value.startswith("//") and len(value) < 500 else "/board"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next_path: Annotated[str, Query(alias="next")] = "/board") -> Response:
    """The login form."""
    return render(request, "login.html", None, next=_safe_next(next_path), error=None, user="")


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, workspace: WorkspaceDep) -> Response:
    """Check the user name and password, set the session cookie, go where the user was going."""
    form = await request.form()
    target = _safe_next(form.get("next"))
    user = forms.text(form, "user", max_length=64, required=False) or ""
    password = form.get("password")

    def check() -> auth.NewSession:  # in the thread pool: argon2 and the database never block the event loop
        with auth.LOGIN_SLOTS, workspace.unit() as uow:
            return auth.login(
                uow=uow, user_name=user, password=password if isinstance(password, str) else "",
                address=client_address(request), policy=workspace.policy,
                user_agent=request.headers.get("user-agent"),
            )  # fmt: skip

    try:
        opened = await run_in_threadpool(check)
    except (Unauthenticated, TooManyAttempts) as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 401
        return render(request, "login.html", None, status_code=status, next=target, error=exc.message, user=user)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, workspace, opened.token)
    return response


@router.post("/logout")
def logout(request: Request, principal: PageWriter, workspace: WorkspaceDep) -> Response:
    """End the session and go back to the login page."""
    with workspace.unit() as uow:
        auth.logout(uow=uow, session_id=principal.credential)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request, workspace)
    return response


@router.get("/")
def home(request: Request) -> Response:
    """The board is the home page (the login page when there is no session)."""
    target = "/board" if request.cookies.get(SESSION_COOKIE) else "/login"
    return RedirectResponse(target, status_code=303)
