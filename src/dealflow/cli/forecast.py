"""``dealflow forecast``: a period's forecast from the team's history, its back-test, snapshots and scores."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.box import SIMPLE
from rich.table import Table

from dealflow.analytics import forecast_chart as charts
from dealflow.analytics.forecast_backtest import Backtest, backtest_periods
from dealflow.analytics.forecast_runs import Forecast, check_trials, forecast_period, moment_text
from dealflow.analytics.forecast_scoring import GroupScore
from dealflow.analytics.forecast_snapshots import Scorecard, score_snapshots, take_snapshot
from dealflow.analytics.periods import Period, parse_period, period_of
from dealflow.cli.context import DbOption, JsonOption, console, print_json, workspace
from dealflow.errors import InvalidInput
from dealflow.process.durations import parse_duration

app = typer.Typer(
    help="Forecast a period from the team's own history: each open deal's chance, the total's range, "
    "the back-test that shows whether to trust it, snapshots and their scores.",
    invoke_without_command=True,
)
PeriodOption = Annotated[
    str | None, typer.Option("--period", help="2026-Q1, 2026-03, 2026-W09 or 2026 (default: this quarter).")
]
TrialsOption = Annotated[int, typer.Option("--trials", help="Monte Carlo trials (100 to 1,000,000).")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Random seed, for a repeatable run.")]
ProcessOption = Annotated[str | None, typer.Option("--process", help="Only the deals of this process.")]
ChartOption = Annotated[Path | None, typer.Option("--chart", help="Write an SVG chart to this file.")]
PeriodsOption = Annotated[int, typer.Option("--periods", help="How many earlier periods to back-test.")]
TOP_DEALS = 15


def _period(text: str | None, now: datetime) -> Period:
    return period_of(now, "quarter") if text is None else parse_period(text, now)


def _as_of(text: str | None, now: datetime) -> datetime:
    """``2026-02-01`` (the start of that day, UTC) or an ISO timestamp; never in the future."""
    if text is None:
        return now
    raw = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            moment = datetime.combine(date.fromisoformat(raw), datetime.min.time(), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(raw)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"not a date or time: {raw[:40]!r} (write 2026-02-01)", field="--as-of") from None
    if moment > now:
        raise InvalidInput(
            f"{moment_text(moment)} is in the future: a forecast is made from what is known", field="--as-of"
        )
    return moment


def _write_chart(path: Path, svg: str) -> None:
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(svg, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}", field="--chart") from None


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _compact(value: float | None) -> str:
    """Money in at most six characters (1.25M, 48.0k), for tables with many amount columns."""
    if value is None:
        return ""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            scaled = value / scale
            return f"{scaled:.{0 if abs(scaled) >= 100 else 1 if abs(scaled) >= 10 else 2}f}{suffix}"
    return f"{value:.0f}"


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _print_forecast(result: Forecast) -> None:
    out = console()
    scope = f" (process {result.process})" if result.process else ""
    out.print(f"Forecast of {result.period}{scope} as of {moment_text(result.as_of)}")
    out.print(f"won so far: {_money(result.won_to_date)}; open deals: {result.open_deals}", end="")
    out.print(f" ({result.without_amount} without an amount count as 0)" if result.without_amount else "")
    table = Table("method", "expected", "P10", "P50", "P90")
    for d in (result.history, result.naive):
        name = "history (stage and age)" if d.method == "history" else "naive stage rates"
        table.add_row(name, _money(d.expected), _money(d.p10), _money(d.p50), _money(d.p90))
    out.print(table)
    for view in (result.commit, result.best_case):
        label = "commit" if view.name == "commit" else "best case"
        out.print(f"{label}: {_money(view.amount)} ({view.deals} deals; {view.rule})")
    out.print(f"simulation: {result.simulation}; seed {result.seed}")
    if result.calls:
        calls = Table("rep's call", "deals", "amount", "model expects", "model probability")
        for c in result.calls:
            calls.add_row(
                c.category, str(c.deals), _money(c.amount), _money(c.model_expected), _share(c.model_probability)
            )
        out.print(calls)
    if rep := result.rep_probabilities:
        out.print(
            f"reps' probabilities on {rep.deals} deals: they expect {_money(rep.rep_expected)}, "
            f"the model {_money(rep.model_expected)}"
        )
    buckets = Table("stage", "from day", "samples", "observed", "probability", "naive")
    for b in result.buckets:
        observed = "" if b.observed is None else _share(b.observed)
        buckets.add_row(b.stage, f"{b.from_days:g}", str(b.samples), observed, _share(b.probability), _share(b.naive))
    out.print(buckets)
    deals = Table("deal", "stage", "owner", "days", "amount", "chance", "expected", "call")
    for f in result.deals[:TOP_DEALS]:
        deals.add_row(
            f["deal_id"], f["stage"], f["owner"], f"{f['days_in_stage']:.0f}", _money(f["amount"]),
            _share(f["probability"]), _money(f["expected"]), f["forecast_category"] or "",
        )  # fmt: skip
    if result.deals:
        out.print(f"the {min(TOP_DEALS, len(result.deals))} open deals expected to bring most (days: in their stage):")
        out.print(deals)


def _print_backtest(result: Backtest) -> None:
    out = console()
    out.print(
        f"Back-test before {result.period}: each forecast made as of its period's start ({result.trials:,} trials)"
    )
    table = Table("period", "method", "P10", "P50", "P90", "actual", "P50 error", "in range", "won (all)", box=SIMPLE)
    for column in table.columns[:2]:
        column.no_wrap = True
    for r in result.rows:
        error = "" if r.ape is None else f"{r.ape:.0%}"
        table.add_row(
            r.period, r.method, _compact(r.p10), _compact(r.p50), _compact(r.p90), _compact(r.actual), error,
            "yes" if r.inside else "no", _compact(r.won_all),
        )  # fmt: skip
    out.print(table)
    summary = Table("method", "periods", "MAPE of P50", "actual inside P10-P90", "bias of P50")
    for s in result.scores:
        summary.add_row(s.method, str(s.periods), _share(s.mape), _share(s.coverage), _money(s.bias))
    out.print(summary)
    out.print(
        "actual: won in the period by the deals open at its start; won (all): with deals opened later. "
        "A trustworthy method has a small MAPE and about 80% of actuals inside P10-P90."
    )
    for note in result.skipped:
        out.print(f"skipped {note}")


def _print_groups(title: str, rows: list[GroupScore]) -> None:
    if not rows:
        return
    table = Table(title, "deals", "Brier", "predicted", "won")
    for g in rows:
        table.add_row(g.name, str(g.deals), f"{g.brier:.3f}", _share(g.predicted), _share(g.observed))
    console().print(table)


def _print_scorecard(card: Scorecard) -> None:
    out = console()
    if not card.snapshots:
        out.print(f"no snapshot of an ended period to score yet ({card.waiting} waiting for their period to end)")
        return
    out.print(f"{len(card.snapshots)} snapshots scored; {card.waiting} waiting for their period to end")
    table = Table("id", "period", "method", "taken", "P10", "P50", "P90", "actual", "P50 error", "inside", "Brier")
    for s in card.snapshots:
        table.add_row(
            str(s.id), s.period, s.method, moment_text(s.taken_at), _money(s.p10), _money(s.p50), _money(s.p90),
            _money(s.actual), _share(s.ape), "yes" if s.inside else "no", "" if s.brier is None else f"{s.brier:.3f}",
        )  # fmt: skip
    out.print(table)
    for m in card.methods:
        brier = "" if m.brier is None else f"{m.brier:.3f}"
        out.print(
            f"{m.method}: {m.snapshots} snapshots, MAPE of P50 {_share(m.mape) or 'n/a'}, "
            f"inside P10-P90 {_share(m.coverage)}, Brier {brier} over {m.deals} deal forecasts"
        )
        calibration = Table("probability", "deals", "predicted", "won")
        for c in m.calibration:
            calibration.add_row(c.bucket, str(c.deals), _share(c.predicted), _share(c.observed))
        out.print(calibration)
        _print_groups(f"{m.method}: stage", m.stages)
        _print_groups(f"{m.method}: rep", m.reps)
    _print_groups("probabilities called", card.rep_probability)
    _print_groups("forecast category", card.categories)


@app.callback()
def forecast(
    ctx: typer.Context,
    period: PeriodOption = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Forecast as of this date (default: now).")] = None,
    trials: TrialsOption = 10_000,
    seed: SeedOption = None,
    process: ProcessOption = None,
    chart: ChartOption = None,
    backtest: Annotated[bool, typer.Option("--backtest", help="Back-test instead (as `forecast backtest`).")] = False,
    periods: PeriodsOption = 4,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Forecast a period: each open deal's chance of being won in it and the range of the total."""
    if ctx.invoked_subcommand is not None:
        return
    if backtest:
        if as_of is not None:
            raise InvalidInput("a back-test runs as of the start of each earlier period", field="--as-of")
        run_backtest(period, periods, trials, seed, process, chart, db, as_json)
        return
    check_trials(trials)
    with workspace(db) as uow:
        now = uow.clock()
        result, run = forecast_period(
            uow.connection,
            period=_period(period, now),
            as_of=_as_of(as_of, now),
            trials=trials,
            seed=seed,
            process=process,
        )
    if chart is not None:
        title = f"{result.period} forecast as of {moment_text(result.as_of)}: won amount"
        h = result.history
        _write_chart(
            chart, charts.histogram(run.history_simulation.totals, title=title, percentiles=(h.p10, h.p50, h.p90))
        )
    if as_json:
        typer.echo(result.json_text(indent=2))  # what print_json writes, the deals' rows from their columns
        return
    _print_forecast(result)
    if chart is not None:
        console().print(f"chart written to {chart}")


@app.command("backtest")
def run_backtest(
    period: PeriodOption = None,
    periods: PeriodsOption = 4,
    trials: TrialsOption = 10_000,
    seed: SeedOption = None,
    process: ProcessOption = None,
    chart: ChartOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-run the forecast as of the start of earlier periods and compare it with what they won."""
    check_trials(trials)
    with workspace(db) as uow:
        now = uow.clock()
        result = backtest_periods(
            uow.connection, period=_period(period, now), periods=periods, now=now, trials=trials, seed=seed,
            process=process,
        )  # fmt: skip
    if chart is not None:
        _write_chart(chart, charts.fan(result))
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    _print_backtest(result)
    if chart is not None:
        console().print(f"chart written to {chart}")


@app.command("snapshot")
def snapshot(
    period: PeriodOption = None,
    trials: TrialsOption = 10_000,
    seed: SeedOption = None,
    process: ProcessOption = None,
    every: Annotated[
        str | None, typer.Option("--every", help="Only if the last snapshot of the period is older (e.g. 7d).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store the forecast as it stands now, so it can be scored once the period ends."""
    check_trials(trials)
    try:
        spacing = None if every is None else parse_duration(every)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="--every") from None
    with workspace(db) as uow:
        taken = take_snapshot(
            uow=uow, period=_period(period, uow.clock()), trials=trials, seed=seed, process=process, every=spacing
        )
    if as_json:
        print_json(taken.model_dump(mode="json"))
    elif taken.skipped:
        console().print(f"no snapshot stored: the last one of {taken.period} was taken {moment_text(taken.taken_at)}")
    else:
        ids = ", ".join(str(i) for i in taken.ids)
        console().print(
            f"stored snapshots {ids} of {taken.period} as of {moment_text(taken.taken_at)} "
            f"(history and naive methods, {taken.deals} open deals)"
        )


@app.command("score")
def score(
    period: Annotated[str | None, typer.Option("--period", help="Only the snapshots of this period.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score the stored snapshots whose period has ended: error, range, Brier score, calibration."""
    label = None if period is None else parse_period(period).label
    with workspace(db) as uow:
        card = score_snapshots(uow.connection, now=uow.clock(), period=label)
    if as_json:
        print_json(card.model_dump(mode="json"))
        return
    _print_scorecard(card)
