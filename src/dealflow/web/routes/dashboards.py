"""Dashboards drawn as inline SVG: the funnel with its conversion, time in stage, win rate over time,
and (for revops and admins, who see every open deal) the forecast range of the quarter.

The numbers are the runs of :mod:`dealflow.analytics`, limited to the reader's scope as the API's
reports are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from dealflow.analytics.cadence import CadenceMetrics, measure_cadences
from dealflow.analytics.forecast_runs import forecast_period
from dealflow.analytics.metrics import compute_metrics
from dealflow.analytics.periods import Period, parse_period, period_of
from dealflow.domain import access as rules
from dealflow.errors import InvalidInput
from dealflow.server.dependencies import WorkspaceDep
from dealflow.services import access
from dealflow.store import queries
from dealflow.web.charts import RangeChart, bars, ranges
from dealflow.web.rendering import render
from dealflow.web.sessions import PageUser

router = APIRouter()
MONTHS = 6
FORECAST_TRIALS, FORECAST_SEED = 2_000, 7


def _win_rates(connection: Connection, filters: dict[str, Any], process: str | None, now: datetime) -> list[Any]:
    """The win rate of each of the last months, the current one last (None where no deal closed)."""
    month = period_of(now, "month")
    found = []
    for back in range(MONTHS - 1, -1, -1):
        period = month.previous(back)
        run = compute_metrics(
            connection, process=process, period=period, slice_by=None, filters=filters, now=now, target=None
        )
        found.append((period.label, None if run.win_rate is None else run.win_rate * 100))
    return found


def _forecast(connection: Connection, process: str | None, now: datetime) -> tuple[Period, RangeChart, float] | str:
    """The quarter's forecast ranges (history and naive methods) and what is already won, or why there is none."""
    quarter = period_of(now, "quarter")
    try:
        found, _run = forecast_period(
            connection, period=quarter, as_of=now, trials=FORECAST_TRIALS, seed=FORECAST_SEED, process=process
        )
    except InvalidInput as exc:  # too little history yet: the other charts still stand
        return exc.message
    rows = [(d.method, d.p10, d.p50, d.p90) for d in (found.history, found.naive)]
    return quarter, ranges(rows), found.won_to_date


@router.get("/dashboards", response_class=HTMLResponse)
def dashboards(
    request: Request, me: PageUser, workspace: WorkspaceDep, process: str | None = None, period: str | None = None
) -> Response:
    """The funnel, conversion per stage, time in stage and win rate of your scope."""
    owner, team = access.report_filters(me.actor, owner=None, team=None)
    chosen = parse_period(period[:16]) if period else None
    filters: dict[str, Any] = {"owner": owner, "team": team}
    process = process[:64] if process else None
    with workspace.unit() as uow:
        now = uow.clock()
        found = compute_metrics(
            uow.connection, process=process, period=chosen, slice_by=None, filters=filters, now=now, target=None
        )
        trend = _win_rates(uow.connection, filters, found.process, now)
        installed = queries.process_source(uow.connection, key=found.process) if found.process else None
        forecast = None
        if rules.may_administer(me.actor, "see the forecast") is None:
            forecast = _forecast(uow.connection, found.process, now)
        cadence = measure_cadences(uow.connection, today=now.date(), owner=owner, team=team)
    conversion = [(s.name, None if s.conversion is None else s.conversion * 100) for s in found.stage_conversion]
    return render(
        request, "dashboards.html", me, metrics=found, period=period or "",
        process_name=installed.name if installed is not None else found.process,
        funnel=bars([(s.name, float(s.entered)) for s in found.stage_conversion], unit="deals"),
        conversion=bars(conversion, unit="%", maximum=100.0),
        days=bars([(t.name, t.median_days) for t in found.time_in_stage], unit="days"),
        trend=bars(trend, unit="%", maximum=100.0), forecast=forecast, **_cadence_charts(cadence),
    )  # fmt: skip


def _percent(share: float | None) -> float | None:
    return None if share is None else share * 100


def _cadence_charts(found: CadenceMetrics) -> dict[str, Any]:
    """The cadence section: compliance per rep and per step, reply and meeting rates per step."""
    return {
        "cadence": found,
        "cadence_by_rep": bars([(r.key, _percent(r.share_on_time)) for r in found.by_rep], unit="%", maximum=100.0),
        "cadence_by_step": bars(
            [(f"step {r.key}", _percent(r.share_on_time)) for r in found.by_step], unit="%", maximum=100.0
        ),
        "cadence_replies": bars(
            [(f"step {r.key}", _percent(r.reply_rate)) for r in found.outcomes_by_step], unit="%", maximum=100.0
        ),
        "cadence_meetings": bars(
            [(f"step {r.key}", _percent(r.meeting_rate)) for r in found.outcomes_by_step], unit="%", maximum=100.0
        ),
    }
