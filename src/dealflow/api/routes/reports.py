"""Reports read off the event log: metrics, the inspection queue, a deal's review, the forecast.

A rep's reports cover their own deals, a manager's their team's; the forecast, which lists every
open deal, is for revops and admins.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from dealflow.analytics.forecast_backtest import Backtest, backtest_periods
from dealflow.analytics.forecast_runs import MAX_TRIALS, MIN_TRIALS, Forecast, forecast_period
from dealflow.analytics.forecast_snapshots import Scorecard, Taken, score_snapshots, take_snapshot
from dealflow.analytics.inspection import Finding, Severity, at_least, inspect_deals
from dealflow.analytics.metrics import compute_metrics
from dealflow.analytics.periods import Period, parse_period, period_of
from dealflow.analytics.review import Review, review_deal
from dealflow.api.routes.deals import DealId
from dealflow.api.schemas.common import Page
from dealflow.errors import InvalidInput
from dealflow.server.dependencies import CurrentUser, Paging, WorkspaceDep, WriterDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.services import access
from dealflow.store.unit_of_work import UnitOfWork

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)
Filter = Annotated[str | None, Query(max_length=200)]
PeriodText = Annotated[
    str | None,
    Query(max_length=16, description="2026, 2026-Q3, 2026-09, 2026-W39, or last-quarter, this-month, next-week..."),
]
Trials = Annotated[int, Query(ge=MIN_TRIALS, le=MAX_TRIALS, description="Monte Carlo trials.")]
Seed = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Random seed, for a repeatable run.")]


def _period(text: str | None, now: datetime) -> Period:
    return period_of(now, "quarter") if text is None else parse_period(text, now)


@router.get("/metrics")
def metrics(
    principal: CurrentUser,
    workspace: WorkspaceDep,
    process: Filter = None,
    period: PeriodText = None,
    by: Annotated[
        str | None, Query(max_length=16, description="owner, team, stage, source, segment or product.")
    ] = None,
    owner: Filter = None,
    team: Filter = None,
    source: Filter = None,
    segment: Filter = None,
    product: Filter = None,
    target: Annotated[Decimal | None, Query(gt=0, description="Target amount, for pipeline coverage.")] = None,
) -> dict[str, Any]:
    """Funnel, time in stage, win rate, cycle, velocity, handoff quality, next-step hygiene."""
    owner, team = access.report_filters(principal.actor, owner=owner, team=team)
    filters = {"owner": owner, "team": team, "source": source, "segment": segment, "product": product}
    chosen = None if period is None else parse_period(period)
    with workspace.unit() as uow:
        found = compute_metrics(
            uow.connection, process=process, period=chosen, slice_by=by, filters=filters, now=uow.clock(),
            target=target,
        )  # fmt: skip
    return found.as_json()


@router.get("/inspection")
def inspection(
    principal: CurrentUser,
    workspace: WorkspaceDep,
    window: Paging,
    owner: Filter = None,
    team: Filter = None,
    process: Filter = None,
    severity: Severity = "low",
) -> Page[Finding]:
    """The open deals that need attention, most severe first, each with its reasons."""
    owner, team = access.report_filters(principal.actor, owner=owner, team=team)
    with workspace.unit() as uow:
        found = inspect_deals(uow.connection, now=uow.clock(), owner=owner, team=team, process=process)
    return Page[Finding].of_items([f for f in found if at_least(f.severity, severity)], window)


@router.get("/deals/{deal_id}/review", tags=["deals"])
def review(deal_id: DealId, principal: CurrentUser, workspace: WorkspaceDep) -> Review:
    """A deal's review: why it moved and on what evidence, its next step, handoffs, friction, an agenda."""
    with workspace.unit() as uow:
        access.deal(uow.connection, actor=principal.actor, deal_id=deal_id)
        return review_deal(uow.connection, deal_id=deal_id, now=uow.clock())


@router.get("/forecast", response_model=Forecast)
def forecast(
    principal: CurrentUser,
    workspace: WorkspaceDep,
    period: PeriodText = None,
    as_of: Annotated[datetime | None, Query(description="Forecast as of this moment (default: now).")] = None,
    trials: Trials = 10_000,
    seed: Seed = None,
    process: Filter = None,
) -> Response:
    """Each open deal's chance of being won in the period and the range of the total (revops or admin)."""
    access.administer(principal.actor, "see the forecast, which lists every open deal")
    with workspace.unit() as uow:
        now = uow.clock()
        moment = now if as_of is None else (as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC))
        if moment > now:
            raise InvalidInput("is in the future: a forecast is made from what is known", field="as_of")
        found, _run = forecast_period(
            uow.connection, period=_period(period, now), as_of=moment, trials=trials, seed=seed, process=process
        )
    # The model's own JSON, every open deal's row written from columns: no object per deal.
    return Response(content=found.json_text().encode(), media_type="application/json")


@router.get("/forecast/backtest")
def backtest(
    principal: CurrentUser,
    workspace: WorkspaceDep,
    period: PeriodText = None,
    periods: Annotated[int, Query(ge=1, le=20, description="How many earlier periods.")] = 4,
    trials: Trials = 10_000,
    seed: Seed = None,
    process: Filter = None,
) -> Backtest:
    """How the forecast did on earlier periods, beside the naive method (revops or admin)."""
    access.administer(principal.actor, "back-test the forecast")
    with workspace.unit() as uow:
        now = uow.clock()
        return backtest_periods(
            uow.connection, period=_period(period, now), periods=periods, now=now, trials=trials, seed=seed,
            process=process,
        )  # fmt: skip


@router.post("/forecast/snapshots", status_code=201, response_model=Taken)
def snapshot(
    write: WriterDep,
    period: PeriodText = None,
    trials: Trials = 10_000,
    seed: Seed = None,
    process: Filter = None,
) -> Response:
    """Store the forecast as it stands now, to score it once the period ends (revops or admin)."""
    access.administer(write.actor, "store forecast snapshots")

    def act(uow: UnitOfWork) -> Taken:
        return take_snapshot(uow=uow, period=_period(period, uow.clock()), trials=trials, seed=seed, process=process)

    return write.run(act, status_code=201)


@router.get("/forecast/scores")
def scores(principal: CurrentUser, workspace: WorkspaceDep, period: PeriodText = None) -> Scorecard:
    """Stored snapshots of ended periods scored: error, range, Brier score, calibration (revops or admin)."""
    access.administer(principal.actor, "see forecast scores")
    label = None if period is None else parse_period(period).label
    with workspace.unit() as uow:
        return score_snapshots(uow.connection, now=uow.clock(), period=label)
