"""Rendering pages: one Jinja2 environment with autoescape always on, and the error page."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from dealflow.domain.deals import overdue
from dealflow.services.auth import Principal

HERE = Path(__file__).parent
STATIC = HERE / "static"
HTMX = "vendor/htmx.org-2.0.11/htmx.min.js"
SORTABLE = "vendor/sortablejs-1.15.7/Sortable.min.js"
# An ISO 8601 moment as the event log stores it (2026-03-02T09:00:00.123456+00:00).
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?")


def money(value: Any) -> str:
    """An amount with thousands separators and no cents (blank when unknown)."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)):,.0f}"


def when(value: datetime | str | None) -> str:
    """A moment as ``YYYY-MM-DD HH:MM`` (UTC), blank when unknown."""
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment:%Y-%m-%d %H:%M}"


def plain(value: Any) -> str:
    """Nested data (a handoff's context, an event's payload) as one readable line, empty parts left out;
    moments as ``when`` shows them and flags as yes or no."""
    if isinstance(value, dict):
        parts = (f"{str(k).replace('_', ' ')}: {plain(v)}" for k, v in value.items() if v not in (None, "", [], {}))
        return ", ".join(parts)
    if isinstance(value, list | tuple):
        return "; ".join(plain(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and MOMENT.fullmatch(value):
        return when(value)
    return "" if value is None else str(value)


def words(name: str) -> str:
    """An event type in words: ``NextStepSet`` as ``Next step set``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).capitalize()


def _environment() -> Environment:
    # Autoescape on every template, whatever its name: text people typed is always shown as text.
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined)
    env.filters["money"] = money
    env.filters["when"] = when
    env.filters["plain"] = plain
    env.filters["words"] = words
    env.globals["overdue"] = overdue  # a next step's one rule (dealflow.domain.deals.overdue)
    env.globals["htmx_js"] = HTMX
    env.globals["sortable_js"] = SORTABLE
    return env


templates = Jinja2Templates(env=_environment())


def is_htmx(request: Request) -> bool:
    """True when HTMX made the request (it swaps a fragment rather than loading a page)."""
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request,
    name: str,
    me: Principal | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a template with the user, their CSRF token and the page asked for."""
    context |= {"me": me, "csrf": me.csrf_token if me else "", "path": request.url.path}
    response: HTMLResponse = templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=headers
    )
    return response
