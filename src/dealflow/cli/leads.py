"""``dealflow lead``: capture leads, qualify them on a scorecard, recycle them to nurture, disqualify
them with a reason, convert them into deals through the conversion gate."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dealflow.cli.context import (
    AsOption,
    DbOption,
    JsonOption,
    console,
    pairs,
    parse_when,
    print_json,
    resolve_actor,
    workspace,
)
from dealflow.cli.lead_views import lead_json, print_lead
from dealflow.errors import InvalidInput
from dealflow.services import leads as sl
from dealflow.store import queries

app = typer.Typer(help="Leads: not yet opportunities.", no_args_is_help=True)
LeadArg = Annotated[str, typer.Argument(help="Lead id, like L-3.")]
ProcessOpt = Annotated[str | None, typer.Option(help="Process key (default: the lead's own).")]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The person's name.")],
    company: Annotated[str | None, typer.Option(help="Their company.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    source: Annotated[str | None, typer.Option(help="Where the lead came from.")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner's user id (default: you).")] = None,
    process: Annotated[str | None, typer.Option(help="Process key (default: the workspace's default).")] = None,
    field: Annotated[list[str] | None, typer.Option("--field", "-f", help="name=value; repeat for more.")] = None,
    route: Annotated[
        bool, typer.Option("--route", help="Give it to whoever the process's routing picks (needs --process).")
    ] = False,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Capture a lead; it is scored at once under its process's rules."""
    answers = pairs(field or [], field="--field")
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        lead_id = sl.capture_lead(
            uow=uow, actor_id=actor, name=name, company=company, email=email, source=source, owner=owner,
            process_key=process, fields=answers, route=route,
        )  # fmt: skip
    console().print(f"created lead {lead_id}")


@app.command("list")
def list_leads(
    status: Annotated[str, typer.Option(help="open, nurture, converted, disqualified or all.")] = "open",
    owner: Annotated[str | None, typer.Option(help="Only this owner.")] = None,
    by_score: Annotated[bool, typer.Option("--by-score", help="The highest fit and intent score first.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List leads."""
    if status not in ("open", "nurture", "converted", "disqualified", "all"):
        raise InvalidInput("must be open, nurture, converted, disqualified or all", field="--status")
    with workspace(db) as uow:
        rows = queries.list_leads(
            uow.connection, status=None if status == "all" else status, owner=owner, by_score=by_score
        )
    if as_json:
        print_json([dict(r._mapping) for r in rows])
        return
    table = Table("lead", "name", "company", "email", "source", "owner", "status", "fit", "intent", "learned")
    for r in rows:
        learned = "" if r.learned_score is None else f"{r.learned_score:.0%}"
        scores = ("" if v is None else str(v) for v in (r.fit_score, r.intent_score))
        table.add_row(r.id, r.name, r.company or "", r.email or "", r.source or "", r.owner, r.status, *scores, learned)
    console().print(table)


@app.command("disqualify")
def disqualify(
    lead_id: LeadArg,
    reason: Annotated[str | None, typer.Option(help="Reason code (see `process show`).")] = None,
    process: ProcessOpt = None,
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
    process: ProcessOpt = None,
    title: Annotated[str | None, typer.Option(help="Deal title (default: the company).")] = None,
    override: Annotated[bool, typer.Option(help="Pass a failed conversion gate (managers; needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the gate is overridden.")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Turn a lead into a deal through the conversion gate; its answers and scorecard go with it."""
    with workspace(db) as uow:
        deal_id = sl.convert(
            uow=uow, actor_id=resolve_actor(uow, as_user), lead_id=lead_id, process_key=process, title=title,
            override=override, reason=reason,
        )  # fmt: skip
    console().print(f"{lead_id} converted into {deal_id}")


@app.command("qualify")
def qualify(
    lead_id: LeadArg,
    element: Annotated[str, typer.Argument(help="Element of the framework, like budget or champion.")],
    no: Annotated[bool, typer.Option("--no", help="Withdraw the element instead of confirming it.")] = False,
    note: Annotated[str, typer.Option(help="The evidence, in the buyer's words.")] = "",
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Confirm (or with --no withdraw) one element of the lead's qualification scorecard."""
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        sl.qualify(uow=uow, actor_id=actor, lead_id=lead_id, answers={element: (not no, note)})
        view = sl.view_lead(uow=uow, lead_id=lead_id)
    framework = view.framework
    total = len(framework.elements) if framework else 0
    score = view.lead.score(framework.key) if framework else 0
    console().print(f"{lead_id}: {element} {'withdrawn' if no else 'confirmed'} ({score} of {total})")


@app.command("recycle")
def recycle(
    lead_id: LeadArg,
    reason: Annotated[
        str, typer.Option(help="Why the lead is parked (a nurture reason code when the process lists them).")
    ],
    until: Annotated[str, typer.Option(help="When to take it up again: 2027-03-01, or +90d from today.")],
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Park a lead in nurture until a date; it reopens by itself then."""
    day = parse_when(until, field="--until").date()
    with workspace(db) as uow:
        sl.recycle(uow=uow, actor_id=resolve_actor(uow, as_user), lead_id=lead_id, reason=reason, until=day)
    console().print(f"{lead_id} recycled to nurture until {day}")


@app.command("show")
def show(lead_id: LeadArg, db: DbOption = None, as_json: JsonOption = False) -> None:
    """One lead: its answers, scorecard, scores with their factors, and what conversion still needs."""
    with workspace(db) as uow:
        view = sl.view_lead(uow=uow, lead_id=lead_id)
    if as_json:
        print_json(lead_json(view))
        return
    print_lead(view)
