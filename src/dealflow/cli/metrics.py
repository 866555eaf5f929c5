"""``dealflow metrics``: conversion, speed, outcomes and transition quality, as tables or JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Column, Table

from dealflow.analytics.follow_up import Depth
from dealflow.analytics.metrics import Metrics, MetricSet, compute_metrics
from dealflow.analytics.periods import parse_period
from dealflow.analytics.scope import DIMENSIONS
from dealflow.cli import cadences
from dealflow.cli.context import AsOption, DbOption, JsonOption, console, print_json, report_scope, workspace
from dealflow.errors import InvalidInput

BAR_WIDTH = 10

Filter = Annotated[str | None, typer.Option(help="Only deals with this value.", show_default=False)]


def metrics(
    ctx: typer.Context,
    process: Annotated[
        str | None, typer.Option(help="Process key (default: the only one installed, or the only one with deals).")
    ] = None,
    period: Annotated[str | None, typer.Option(help="2026, 2026-Q1, 2026-03 or 2026-W09 (default: all time).")] = None,
    by: Annotated[str | None, typer.Option("--by", help=f"Slice by {'|'.join(DIMENSIONS)}.")] = None,
    owner: Filter = None,
    team: Filter = None,
    source: Filter = None,
    segment: Filter = None,
    product: Filter = None,
    target: Annotated[str | None, typer.Option(help="Target amount, for pipeline coverage.")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the metrics of a process: funnel, time in stage, win rate, cycle, handoffs, next steps
    (with --as, over the deals that user sees)."""
    if ctx.invoked_subcommand is not None:
        return
    if by is not None and by not in DIMENSIONS:
        raise InvalidInput(f"cannot slice by {by!r} (choose {', '.join(DIMENSIONS)})", field="--by")
    chosen = parse_period(period) if period is not None else None
    amount = _amount(target)
    with workspace(db) as uow:
        owner, team = report_scope(uow, as_user, owner=owner, team=team)
        filters = {"owner": owner, "team": team, "source": source, "segment": segment, "product": product}
        found = compute_metrics(
            uow.connection,
            process=process,
            period=chosen,
            slice_by=by,
            filters=filters,
            now=datetime.now(UTC),
            target=amount,
        )
    if as_json:
        print_json(found.as_json())
        return
    show(found, console())


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        raise InvalidInput(f"not an amount: {text[:40]!r}", field="--target") from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"the target must be an amount above 0, got {text[:40]!r}", field="--target")
    return value


def show(found: Metrics, out: Console) -> None:
    """Print a metrics run as Rich tables: the totals, then one block per slice value."""
    period = found.period.label if found.period else "all time"
    filters = ", ".join(f"{k}={v}" for k, v in found.filters.items())
    out.print(f"{found.process}@{found.process_version}, {period}, as of {found.as_of:%Y-%m-%d %H:%M} UTC")
    if filters:
        out.print(f"only deals with {filters}")
    _block(out, "All deals in scope" if found.by is None else f"All {found.by}s", found, found.target)
    for part in found.slices:
        _block(out, f"{found.by}: {part.value if part.value is not None else '(none)'}", part, found.target)
    out.print(f"Time in stage: {found.time_in_stage_basis}.")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} d"


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _block(out: Console, title: str, m: MetricSet, target: Decimal | None) -> None:
    out.print()
    out.rule(title)
    _summary(out, m, target)
    _funnel(out, m)
    _stages(out, m)
    _transitions(out, m)


def _summary(out: Console, m: MetricSet, target: Decimal | None) -> None:
    table = Table("outcomes", "", "speed and size", "", title="Outcomes")
    rows = [
        ("open deals", f"{m.deals_open} ({_money(m.open_amount)})", "avg won deal", _money(m.avg_won_amount)),
        ("won", str(m.deals_won), "cycle median", _days(m.cycle_days_median)),
        ("lost", str(m.deals_lost), "cycle p80", _days(m.cycle_days_p80)),
        ("disqualified", str(m.deals_disqualified), "cycle mean", _days(m.cycle_days_mean)),
        ("win rate", _pct(m.win_rate), "velocity / day", _money(m.sales_velocity_per_day)),
    ]
    coverage = "-" if m.pipeline_coverage is None else f"{m.pipeline_coverage:.2f}x of {_money(target)}"
    rows.append(
        (
            "reopened",
            str(m.deals_reopened),
            "pipeline coverage",
            coverage if target is not None else "- (give --target)",
        )
    )
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _funnel(out: Console, m: MetricSet) -> None:
    table = Table(
        Column("stage", no_wrap=True),
        Column("entered", justify="right", no_wrap=True),
        Column("", no_wrap=True, min_width=BAR_WIDTH),
        Column("moved on", justify="right", no_wrap=True),
        Column("still in", justify="right", no_wrap=True),
        Column("dropped", justify="right", no_wrap=True),
        Column("won", justify="right", no_wrap=True),
        title="Funnel (cohorts by stage entry)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    widest = max((s.entered for s in m.stage_conversion), default=0)
    for s in m.stage_conversion:
        bar = "█" * round(BAR_WIDTH * s.entered / widest) if widest else ""
        moved = f"{s.reached_next} ({s.conversion:.0%})" if s.conversion is not None else "0"
        drop = f"{s.drop_off} ({s.drop_off_rate:.0%})" if s.drop_off_rate is not None else "0"
        table.add_row(s.name, str(s.entered), bar, moved, str(s.still_there), drop, str(s.won))
    out.print(table)


def _stages(out: Console, m: MetricSet) -> None:
    table = Table("stage", "stays", "median", "p80", "SLA", "breaches", "open past SLA", title="Time in stage")
    for s in m.time_in_stage:
        table.add_row(
            s.name,
            str(s.stays),
            _days(s.median_days),
            _days(s.p80_days),
            _days(s.sla_days),
            str(s.sla_breaches),
            str(s.open_past_sla),
        )
    out.print(table)


def _transitions(out: Console, m: MetricSet) -> None:
    h, n, f, mv = m.handoffs, m.next_steps, m.follow_up, m.moves
    table = Table("transitions and hygiene", "", title="Quality")
    hours = "-" if h.median_hours_to_accept is None else f"{h.median_hours_to_accept:.1f} h"
    rows = [
        ("handoffs", f"{h.handoffs} (context {_pct(h.completeness_mean)} complete on average)"),
        ("  accepted / sent back / pending", f"{h.accepted} / {h.returned} / {h.pending}"),
        ("  acceptance rate", _pct(h.acceptance_rate)),
        ("  median time to accept", hours),
        ("  accepted within SLA", _pct(h.within_sla_share)),
        ("  pending and overdue", str(h.pending_overdue)),
        ("next steps", f"{n.compliant} of {n.open_deals} open deals dated, owned, not overdue ({_pct(n.compliance)})"),
        ("  buyer-confirmed", f"{n.buyer_confirmed} ({_pct(n.buyer_confirmed_share)})"),
        ("  overdue", str(n.overdue)),
        ("follow-up before lost", _depth(f.lost)),
        ("follow-up before disqualified", _depth(f.disqualified)),
        ("follow-up on leads", f.leads_note if f.leads is None else _depth(f.leads)),
        ("moves", f"{mv.moves} ({mv.forward} forward, {mv.returned} sent back at handoff)"),
        ("  skips", f"{mv.skips} ({_pct(mv.skip_share)})"),
        ("  backward", f"{mv.backward} ({_pct(mv.backward_share)})"),
        ("  overrides", f"{mv.overrides} ({_pct(mv.override_share)})"),
        ("SLA breaches", f"{m.sla_breaches} finished stays; {m.open_past_sla} open deals past it now"),
    ]
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _depth(depth: Depth) -> str:
    if not depth.deals:
        return "no deals"
    each = depth.touches_per_deal or 0.0
    return f"{depth.deals} deals, {each:.1f} touches each, {_pct(depth.share_five_or_more)} got five or more"


def register(app: typer.Typer) -> None:
    """Attach ``metrics`` (and its ``metrics cadence`` sub-command) to the root command."""
    group = typer.Typer(help="Metrics of a process; `metrics cadence` for follow-up cadences.")
    group.callback(invoke_without_command=True)(metrics)
    group.command("cadence")(cadences.metrics_cadence)
    app.add_typer(group, name="metrics")
