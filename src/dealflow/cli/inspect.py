"""``dealflow inspect`` and ``dealflow review``: the deals that need attention, and one deal's review."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer
from rich.table import Table

from dealflow.analytics.inspection import SEVERITIES, at_least, inspect_deals
from dealflow.analytics.review import agenda_text, review_deal
from dealflow.cli.context import AsOption, DbOption, JsonOption, console, print_json, reader, report_scope, workspace
from dealflow.errors import InvalidInput
from dealflow.services import access


def inspect_pipeline(
    owner: Annotated[str | None, typer.Option(help="Only deals of this owner.")] = None,
    team: Annotated[str | None, typer.Option(help="Only deals whose owner is in this team.")] = None,
    process: Annotated[str | None, typer.Option(help="Only deals of this process.")] = None,
    severity: Annotated[str, typer.Option(help="Minimum severity shown: high, medium or low.")] = "low",
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the open deals that need attention, most severe first, each with its reasons (with --as,
    among the deals that user sees)."""
    if severity not in SEVERITIES:
        raise InvalidInput("must be high, medium or low", field="--severity")
    with workspace(db) as uow:
        owner, team = report_scope(uow, as_user, owner=owner, team=team)
        found = inspect_deals(uow.connection, now=uow.clock(), owner=owner, team=team, process=process)
    found = [f for f in found if at_least(f.severity, severity)]
    if as_json:
        print_json([f.model_dump(mode="json") for f in found])
        return
    out = console()
    if not found:
        out.print("no open deal needs attention")
        return
    table = Table()
    table.add_column("deal", no_wrap=True)
    table.add_column("title", max_width=30)
    table.add_column("owner", no_wrap=True)
    table.add_column("stage", max_width=14)
    table.add_column("days in stage", justify="right", max_width=8)
    table.add_column("severity", no_wrap=True)
    table.add_column("reasons", min_width=40)
    for f in found:
        reasons = "\n".join(r.message for r in f.reasons)
        table.add_row(f.deal_id, f.title, f.owner, f.stage_name, f"{f.days_in_stage:.1f}", f.severity, reasons)
    out.print(table)
    counts = Counter(f.severity for f in found)
    tally = ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts[s])
    out.print(f"{len(found)} deal{'s' * (len(found) != 1)} need attention ({tally})")


def review(
    deal_id: Annotated[str, typer.Argument(help="Deal id, like D-12.")],
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """A deal's review agenda: why it moved and on what evidence, its next step, handoffs, friction."""
    with workspace(db) as uow:
        if (actor := reader(uow, as_user)) is not None:
            access.deal(uow.connection, actor=actor, deal_id=deal_id)
        found = review_deal(uow.connection, deal_id=deal_id, now=uow.clock())
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    console().print(agenda_text(found))


def register(app: typer.Typer) -> None:
    """Attach these commands to the root command."""
    app.command("inspect")(inspect_pipeline)
    app.command("review")(review)
