"""The pages' routes, one module per page; each parses, checks access, calls a use case, renders."""

from __future__ import annotations

from dealflow.web.routes import board, dashboards, deal, handoffs, leads, login, my_day, processes

ROUTERS = tuple(m.router for m in (login, board, deal, handoffs, my_day, dashboards, processes, leads))
