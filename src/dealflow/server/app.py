"""The application factory: one FastAPI app per workspace, the API under ``/api/v1`` and the web pages.

Nothing connects to the database while the app is built; every request opens its own unit of
work, and every fact about sessions, tokens and retries lives in the database, so several
instances can serve one PostgreSQL workspace side by side.
"""

from __future__ import annotations

from importlib.metadata import version

from fastapi import FastAPI
from sqlalchemy import Engine

from dealflow.api.routers import CALENDAR, DESCRIPTION, PREFIX, ROUTERS
from dealflow.server import errors
from dealflow.server.dependencies import Workspace
from dealflow.services.auth import AuthPolicy
from dealflow.settings import Settings
from dealflow.store.engine import make_engine
from dealflow.store.unit_of_work import Clock, utc_now
from dealflow.web import site
from dealflow.web.form_encoding import Utf8FormBodies


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
    app.include_router(CALENDAR)
    site.mount(app)
    return app
