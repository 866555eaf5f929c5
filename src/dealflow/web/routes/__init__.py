"""The pages' routes, one module per page; each parses, checks access, calls a use case, renders."""

from __future__ import annotations

from dealflow.web.routes import board, dashboards, deal, handoffs, intake, leads, login, my_day, processes, touches

ROUTERS = tuple(m.router for m in (login, board, deal, handoffs, my_day, dashboards, processes, leads, touches, intake))
