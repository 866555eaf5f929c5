"""``dealflow handoff``: the inbox of deals handed over, accepting them or sending them back."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from dealflow.cli.context import AsOption, DbOption, JsonOption, console, print_json, resolve_actor, workspace
from dealflow.errors import InvalidInput, NotFound
from dealflow.services import deals as sd
from dealflow.store import queries

app = typer.Typer(help="Handoffs between roles, with their context and deadline.", no_args_is_help=True)
HandoffArg = Annotated[str, typer.Argument(help="Handoff id, like D-12-H5.")]


@app.command("list")
def list_handoffs(
    to: Annotated[str | None, typer.Option(help="Only handoffs to this user.")] = None,
    status: Annotated[str, typer.Option(help="pending, accepted, returned or all.")] = "pending",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List handoffs, the oldest deadline first."""
    if status not in ("pending", "accepted", "returned", "all"):
        raise InvalidInput("must be pending, accepted, returned or all", field="--status")
    with workspace(db) as uow:
        rows = queries.list_handoffs(uow.connection, to_owner=to, status=None if status == "all" else status)
    if as_json:
        print_json([dict(r._mapping) for r in rows])
        return
    table = Table("handoff", "deal", "from", "to", "stage", "context", "accept by", "status")
    for r in rows:
        table.add_row(
            r.id,
            r.title,
            r.from_owner,
            r.to_owner,
            r.to_stage,
            f"{r.completeness:.0%}",
            f"{r.due_at:%Y-%m-%d %H:%M}",
            r.status,
        )
    console().print(table)


@app.command("show")
def show(handoff_id: HandoffArg, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show a handoff with the context it carries."""
    with workspace(db) as uow:
        row = queries.get_handoff(uow.connection, handoff_id=handoff_id)
    if row is None:
        raise NotFound(f"no handoff '{handoff_id}'")
    if as_json:
        print_json(dict(row._mapping))
        return
    out = console()
    out.print(f"{row.id} deal {row.deal_id}: {row.from_owner} -> {row.to_owner} ({row.from_stage} -> {row.to_stage})")
    out.print(f"status {row.status}; accept by {row.due_at:%Y-%m-%d %H:%M}; context {row.completeness:.0%} complete")
    for item, value in row.context.items():
        shown = "missing" if value in (None, "", [], {}) else json.dumps(value, ensure_ascii=False)
        out.print(f"  {item}: {shown}")
    if row.reason:
        out.print(f"sent back: {row.reason}")


@app.command("accept")
def accept(handoff_id: HandoffArg, db: DbOption = None, as_user: AsOption = None) -> None:
    """Accept a handoff: you become the deal's owner."""
    with workspace(db) as uow:
        deal = sd.accept_handoff(uow=uow, actor_id=resolve_actor(uow, as_user), handoff_id=handoff_id)
    console().print(f"accepted {handoff_id}: {deal.id} is now owned by {deal.owner}")


@app.command("return")
def send_back(
    handoff_id: HandoffArg,
    reason: Annotated[str, typer.Option(help="What is missing or wrong.")],
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Send a handoff back: the deal returns to its sender and previous stage."""
    with workspace(db) as uow:
        deal = sd.return_handoff(uow=uow, actor_id=resolve_actor(uow, as_user), handoff_id=handoff_id, reason=reason)
    console().print(f"sent back {handoff_id}: {deal.id} is back in {deal.stage} with {deal.owner}")
