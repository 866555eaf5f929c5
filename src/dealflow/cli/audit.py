"""``dealflow audit``: how deals really moved through the process, as an HTML report or JSON."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dealflow.analytics.audit import Audit, compute_audit
from dealflow.analytics.audit_report import render
from dealflow.analytics.periods import parse_period
from dealflow.cli.context import DbOption, JsonOption, console, print_json, workspace
from dealflow.errors import InvalidInput

DEFAULT_OUTPUT = Path("dealflow-audit.html")

Filter = Annotated[str | None, typer.Option(help="Only deals with this value.", show_default=False)]


def audit(
    process: Annotated[str | None, typer.Option(help="Process key (default: every installed process).")] = None,
    period: Annotated[
        str | None, typer.Option(help="Deals created in 2026, 2026-Q1, 2026-03 or 2026-W09 (default: all).")
    ] = None,
    owner: Filter = None,
    team: Filter = None,
    source: Filter = None,
    segment: Filter = None,
    product: Filter = None,
    top: Annotated[int, typer.Option(help="How many of the most common variants to show.")] = 10,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help=f"HTML report to write (default: {DEFAULT_OUTPUT}).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Audit the process: the transition graph, main variants, conformance and findings, as an HTML report."""
    chosen = parse_period(period) if period is not None else None
    if top < 1:
        raise InvalidInput(f"must be at least 1, got {top}", field="--top")
    target = output if output is not None or as_json else DEFAULT_OUTPUT
    if target is not None:
        _check_writable(target)
    filters = {"owner": owner, "team": team, "source": source, "segment": segment, "product": product}
    with workspace(db) as uow:
        found = compute_audit(uow.connection, process=process, period=chosen, filters=filters, now=uow.clock(), top=top)
    if target is not None:
        write_report(found, target)
    if as_json:
        print_json(found.as_json())
        return
    summarise(found, target, console())


def _check_writable(path: Path) -> None:
    folder = path.parent
    if path.is_dir():
        raise InvalidInput(f"{str(path)[:80]!r} is a folder; name a file like report.html", field="--output")
    if not folder.is_dir():
        raise InvalidInput(f"no folder {str(folder)[:80]!r} to write the report in", field="--output")
    if not os.access(folder, os.W_OK):
        raise InvalidInput(f"cannot write in {str(folder)[:80]!r}", field="--output")


def write_report(found: Audit, path: Path) -> None:
    """Write the HTML report whole or not at all (a temporary file beside it, renamed into place)."""
    page = render(found)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(page, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def summarise(found: Audit, path: Path | None, out: Console) -> None:
    """A few lines per process: deals, conformance, the main variant and the first findings."""
    period = found.period.label if found.period else "all time"
    out.print(f"Process audit, {period}, as of {found.as_of:%Y-%m-%d %H:%M} UTC")
    for p in found.processes:
        c = p.conformance
        out.print()
        out.rule(f"{p.name} ({p.process}@{p.process_version})")
        if not p.deals:
            out.print("no deal in scope")
            continue
        out.print(
            f"{p.deals:,} deals, {p.variant_count:,} distinct paths; "
            f"{_pct(c.conforming_share)} kept to the process, {_pct(c.straight_share)} straight through; "
            f"{_pct(c.skipped_share)} skipped a stage, {_pct(c.backward_share)} moved backward, "
            f"{_pct(c.overridden_share)} overridden"
        )
        if p.variants:
            main = p.variants[0]
            out.print(f"most common path ({main.share:.0%}): {' > '.join(main.stages)} > {main.outcome}")
        for finding in p.findings[:5]:
            out.print(f"- {finding.text}")
    if path is not None:
        out.print()
        out.print(f"report written to {path}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def register(app: typer.Typer) -> None:
    """Attach ``audit`` to the root command."""
    app.command("audit")(audit)
