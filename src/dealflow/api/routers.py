"""The REST API's routers, each mounted under :data:`PREFIX`, and how the API describes itself."""

from __future__ import annotations

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

PREFIX = "/api/v1"
# Every router of the API, each mounted under PREFIX.
ROUTERS = tuple(
    m.router
    for m in (auth, users, tokens, processes, deals, evidence, handoffs, leads, events, reports, status, intake)
)
ROUTERS += (cadences.router,)
# /calendar/<token>.ics, outside PREFIX: calendar apps want a short URL.
CALENDAR = calendar.router

DESCRIPTION = """Run a team's sales process: deals that move only on evidence, handoffs, next steps,
one event log, and the reports read off it.

Log in with `POST /api/v1/auth/login` (a session cookie; send its CSRF token as `X-CSRF-Token`
on every change), or send an API token as `Authorization: Bearer`. Errors answer with
`{"error": {"kind", "message", "field", "reasons"}}`; a refused gate is a 422 whose `reasons`
list every unmet criterion. Send `Idempotency-Key` on a creating request to retry it safely."""
