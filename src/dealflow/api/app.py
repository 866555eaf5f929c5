"""The application factory: one FastAPI app per workspace, its routes under ``/api/v1``.

Nothing connects to the database while the app is built; every request opens its own unit of
work, and every fact about sessions, tokens and retries lives in the database, so several
instances can serve one PostgreSQL workspace side by side.
"""

from __future__ import annotations

from importlib.metadata import version

from fastapi import FastAPI
from sqlalchemy import Engine

from dealflow.api import errors
from dealflow.api.dependencies import Workspace
from dealflow.api.routes import (
    auth,
    cadences,
    calendar,
    deals,
    events,
    evidence,
    handoffs,
    intake,
    leads,
    processes,
    reports,
    status,
    tokens,
    users,
)
from dealflow.services.auth import AuthPolicy
from dealflow.settings import Settings
from dealflow.store.engine import make_engine
from dealflow.store.unit_of_work import Clock, utc_now
from dealflow.web import site
from dealflow.web.form_encoding import Utf8FormBodies

PREFIX = "/api/v1"
# Every router of the API, each mounted under PREFIX.
ROUTERS = tuple(
    m.router
    for m in (auth, users, tokens, processes, deals, evidence, handoffs, leads, events, reports, status, intake)
)
ROUTERS += (cadences.router,)
DESCRIPTION = """Run a team's sales process: deals that move only on evidence, handoffs, next steps,
one event log, and the reports read off it.

Log in with `POST /api/v1/auth/login` (a session cookie; send its CSRF token as `X-CSRF-Token`
on every change), or send an API token as `Authorization: Bearer`. Errors answer with
`{"error": {"kind", "message", "field", "reasons"}}`; a refused gate is a 422 whose `reasons`
list every unmet criterion. Send `Idempotency-Key` on a creating request to retry it safely."""


def create_app(settings: Settings, *, engine: Engine | None = None, clock: Clock = utc_now) -> FastAPI:
    """The API app for the workspace the settings name (or ``engine``), with its clock."""
    app = FastAPI(
        title="dealflow",
        version=version("dealflow"),
        description=DESCRIPTION,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.workspace = Workspace(
        engine=engine or make_engine(settings.database_url),
        clock=clock,
        settings=settings,
        policy=AuthPolicy.from_settings(settings),
    )
    errors.install(app)
    app.add_middleware(Utf8FormBodies)
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX)
    app.include_router(calendar.router)  # /calendar/<token>.ics: calendar apps want a short URL
    site.mount(app)
    return app
