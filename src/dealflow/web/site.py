"""Mounting the pages and their static files on the API app, and answering errors on pages in HTML.

Errors under ``/api`` keep their JSON answers; on a page the same error kind gets the same status
with a page (or, for an HTMX request, a fragment) that says what is wrong.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from dealflow.errors import DealflowError, Refused
from dealflow.server.dependencies import SESSION_COOKIE, authenticate, get_workspace
from dealflow.server.errors import STATUS, error_response
from dealflow.services.auth import Principal
from dealflow.web.rendering import STATIC, is_htmx, render
from dealflow.web.routes import ROUTERS
from dealflow.web.sessions import LoginRequired, login_url

API_PREFIX = "/api/"


def viewer(request: Request) -> Principal | None:
    """The user of the request's live session, or None: an error page keeps the navigation of whoever is
    logged in."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return authenticate(get_workspace(request), bearer=None, cookie=cookie)
    except DealflowError:
        return None


def error_page(request: Request, exc: DealflowError, me: Principal | None = None) -> Response:
    """The page (or fragment) for an error, with the status the API would answer."""
    status = next((code for cls, code, _ in STATUS if isinstance(exc, cls)), 500)
    reasons = list(exc.reasons) if isinstance(exc, Refused) else []
    field = getattr(exc, "field", None)
    name = "fragments/error.html" if is_htmx(request) else "error.html"
    return render(request, name, me, status_code=status, message=exc.message, reasons=reasons, field=field)


def _login_redirect(request: Request, exc: LoginRequired) -> Response:
    target = urlsplit(exc.next_path).path or "/"
    url = login_url(target if target.startswith("/") and not target.startswith("//") else "/")
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def mount(app: FastAPI) -> None:
    """Add the pages, their static files and their error answers to ``app``."""

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DealflowError)
        if request.url.path.startswith(API_PREFIX):
            return error_response(exc)
        me = None if is_htmx(request) else await run_in_threadpool(viewer, request)
        return error_page(request, exc, me)

    async def on_login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return _login_redirect(request, exc)

    app.add_exception_handler(DealflowError, on_error)
    app.add_exception_handler(LoginRequired, on_login_required)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
