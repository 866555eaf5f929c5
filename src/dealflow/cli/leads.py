"""``dealflow lead``: capture leads, disqualify them with a reason, convert them into deals."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dealflow.cli.context import AsOption, DbOption, JsonOption, console, print_json, resolve_actor, workspace
from dealflow.errors import InvalidInput
from dealflow.services import leads as sl
from dealflow.store import queries

app = typer.Typer(help="Leads: not yet opportunities.", no_args_is_help=True)
LeadArg = Annotated[str, typer.Argument(help="Lead id, like L-3.")]
ProcessOpt = Annotated[str, typer.Option(help="Process key.")]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The person's name.")],
    company: Annotated[str | None, typer.Option(help="Their company.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    source: Annotated[str | None, typer.Option(help="Where the lead came from.")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner's user id (default: you).")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Capture a lead."""
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        lead_id = sl.capture_lead(
            uow=uow, actor_id=actor, name=name, company=company, email=email, source=source, owner=owner
        )
    console().print(f"created lead {lead_id}")


@app.command("list")
def list_leads(
    status: Annotated[str, typer.Option(help="open, converted, disqualified or all.")] = "open",
    owner: Annotated[str | None, typer.Option(help="Only this owner.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List leads."""
    if status not in ("open", "converted", "disqualified", "all"):
        raise InvalidInput("must be open, converted, disqualified or all", field="--status")
    with workspace(db) as uow:
        rows = queries.list_leads(uow.connection, status=None if status == "all" else status, owner=owner)
    if as_json:
        print_json([dict(r._mapping) for r in rows])
        return
    table = Table("lead", "name", "company", "email", "source", "owner", "status")
    for r in rows:
        table.add_row(r.id, r.name, r.company or "", r.email or "", r.source or "", r.owner, r.status)
    console().print(table)


@app.command("disqualify")
def disqualify(
    lead_id: LeadArg,
    reason: Annotated[str | None, typer.Option(help="Reason code (see `process show`).")] = None,
    process: ProcessOpt = "standard",
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Close a lead as disqualified."""
    with workspace(db) as uow:
        sl.disqualify(
            uow=uow, actor_id=resolve_actor(uow, as_user), lead_id=lead_id, reason=reason, process_key=process
        )
    console().print(f"{lead_id} disqualified")


@app.command("convert")
def convert(
    lead_id: LeadArg,
    process: ProcessOpt = "standard",
    title: Annotated[str | None, typer.Option(help="Deal title (default: the company).")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Turn a lead into a deal in the first stage of a process."""
    with workspace(db) as uow:
        deal_id = sl.convert(
            uow=uow, actor_id=resolve_actor(uow, as_user), lead_id=lead_id, process_key=process, title=title
        )
    console().print(f"{lead_id} converted into {deal_id}")
