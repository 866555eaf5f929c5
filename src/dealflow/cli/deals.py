"""``dealflow deal``, ``activity`` and ``next-step``: running deals through the process."""

from __future__ import annotations

from typing import Annotated, Any

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
    reader,
    report_scope,
    resolve_actor,
    workspace,
)
from dealflow.domain import commands as cmds
from dealflow.domain.deals import Deal
from dealflow.domain.evidence import EvidenceCommand
from dealflow.errors import InvalidInput
from dealflow.services import access
from dealflow.services import deals as sd
from dealflow.store import queries

app = typer.Typer(help="Deals: create, inspect, capture evidence, move through gates, close.", no_args_is_help=True)
activity_app = typer.Typer(help="Calls, emails, meetings and notes.", no_args_is_help=True)
next_step_app = typer.Typer(help="The single documented next action of a deal.", no_args_is_help=True)

DealArg = Annotated[str, typer.Argument(help="Deal id, like D-12.")]
FieldOpt = Annotated[list[str] | None, typer.Option("--field", "-f", help="name=value; repeat for more.")]


def _capture(db: str | None, as_user: str | None, deal_id: str, command: EvidenceCommand) -> Deal:
    with workspace(db) as uow:
        return sd.capture_evidence(uow=uow, actor_id=resolve_actor(uow, as_user), deal_id=deal_id, command=command)


@app.command("create")
def create(
    title: Annotated[str, typer.Argument(help="What the deal is, like 'Acme: 40 seats'.")],
    process: Annotated[str | None, typer.Option(help="Process key (default: the workspace's default).")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner's user id (default: you).")] = None,
    account: Annotated[str | None, typer.Option(help="Account id.")] = None,
    amount: Annotated[str | None, typer.Option(help="Expected amount.")] = None,
    close_date: Annotated[str | None, typer.Option(help="Expected close date, YYYY-MM-DD.")] = None,
    field: FieldOpt = None,
    stage: Annotated[str | None, typer.Option(help="Stage to start in (default: the first).")] = None,
    override: Annotated[bool, typer.Option("--override", help="Start outside the creation stages.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --override).")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open a deal in a stage its process creates deals in (the first by default)."""
    fields: dict[str, Any] = pairs(field or [], field="--field")
    if amount is not None:
        fields["amount"] = amount
    if close_date is not None:
        fields["close_date"] = close_date
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        deal = sd.create_deal(
            uow=uow, actor_id=actor, process_key=process, title=title, owner=owner, account_id=account,
            stage=stage, fields=fields, override=override, reason=reason,
        )  # fmt: skip
    if as_json:
        print_json(deal.model_dump(mode="json"))
        return
    console().print(f"created {deal.id} in {deal.stage}, owned by {deal.owner}")


@app.command("list")
def list_deals(
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner.")] = None,
    status: Annotated[str, typer.Option(help="open, won, lost, disqualified or all.")] = "open",
    process: Annotated[str | None, typer.Option(help="Only this process.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """List deals with their stage, owner, amount and next step (with --as, the deals that user sees)."""
    if status not in ("open", "won", "lost", "disqualified", "all"):
        raise InvalidInput("must be open, won, lost, disqualified or all", field="--status")
    with workspace(db) as uow:
        owner, team = report_scope(uow, as_user, owner=owner, team=None)
        rows = queries.list_deals(
            uow.connection,
            stage=stage,
            owner=owner,
            team=team,
            status=None if status == "all" else status,
            process=process,
            limit=limit,
        )
    if as_json:
        print_json([dict(r._mapping) for r in rows])
        return
    table = Table("deal", "title", "stage", "owner", "amount", "close", "next step")
    for r in rows:
        step = (
            f"{r.next_step} ({r.next_step_due:%m-%d}{', confirmed' if r.buyer_confirmed else ''})"
            if r.next_step
            else ""
        )
        amount = f"{r.amount:,.0f}" if r.amount is not None else ""
        table.add_row(r.id, r.title, r.stage, r.owner, amount, str(r.close_date or ""), step)
    console().print(table)


@app.command("show")
def show(deal_id: DealArg, db: DbOption = None, as_user: AsOption = None, as_json: JsonOption = False) -> None:
    """Show a deal: its fields, the gate of its stage ticked or not, next step, handoff, activities."""
    with workspace(db) as uow:
        if (actor := reader(uow, as_user)) is not None:
            access.deal(uow.connection, actor=actor, deal_id=deal_id)
        deal, process, gate = sd.check_gate(uow=uow, deal_id=deal_id)
        activities = queries.deal_activities(uow.connection, deal_id=deal_id)
        contacts = queries.deal_contacts(uow.connection, deal_id=deal_id)
    if as_json:
        print_json(
            {
                **deal.model_dump(mode="json"),
                "gate": None if gate is None else {"passed": gate.passed, "unmet": [str(u) for u in gate.unmet]},
                "contact_details": [dict(c._mapping) for c in contacts],
            }
        )
        return
    out = console()
    stage = process.stage(deal.stage)
    out.print(f"{deal.id} {deal.title}  [{deal.status}]")
    stage_name = stage.name if stage else deal.stage
    out.print(f"process {deal.process}@{deal.process_version}; stage {stage_name}; owner {deal.owner}")
    for name, evidence in sorted(deal.fields.items()):
        out.print(f"  {name}: {evidence.value}  ({evidence.by}, {evidence.at:%Y-%m-%d})")
    step = deal.next_step
    if step:
        confirmed = "buyer-confirmed" if step.buyer_confirmed else "not confirmed by the buyer"
        out.print(f"next step: {step.action}, {step.owner}, due {step.due:%Y-%m-%d %H:%M}, {confirmed}")
    else:
        out.print("next step: none")
    for c in contacts:
        out.print(f"contact: {c.name} ({c.role})")
    if deal.handoff:
        h = deal.handoff
        out.print(f"handoff {h.id}: {h.from_owner} -> {h.to_owner}, accept by {h.due_at:%Y-%m-%d %H:%M}")
    if gate is not None:
        out.print("gate to the next stage: " + ("passed" if gate.passed else "not passed"))
        for unmet in gate.unmet:
            out.print(f"  [ ] {unmet}")
    for a in activities[-10:]:
        out.print(f"  {a.at:%Y-%m-%d} {a.kind}: {a.summary}")


@app.command("update")
def update(
    deal_id: DealArg,
    field: Annotated[list[str], typer.Option("--field", "-f", help="name=value; an empty value clears it.")],
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Capture or change field values."""
    deal = _capture(db, as_user, deal_id, cmds.UpdateFields(fields=dict(pairs(field, field="--field"))))
    console().print(f"updated {deal.id}")


@app.command("move")
def move(
    deal_id: DealArg,
    to: Annotated[str, typer.Argument(help="Stage key to move to.")],
    reason: Annotated[str | None, typer.Option(help="Why (required for backward moves and overrides).")] = None,
    override: Annotated[bool, typer.Option(help="Pass a failed gate (managers; needs --reason).")] = False,
    handoff_to: Annotated[
        str | None, typer.Option("--to", help="Who receives the deal when the owner role changes.")
    ] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Move a deal to another stage; refused, with every unmet criterion listed, unless the gate passes."""
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        deal = sd.move_deal(
            uow=uow, actor_id=actor, deal_id=deal_id, to=to, reason=reason, override=override, handoff_to=handoff_to
        )
    message = f"moved {deal.id} to {deal.stage}"
    if deal.handoff:
        message += f"; handoff {deal.handoff.id} to {deal.handoff.to_owner} awaits acceptance"
    console().print(message)


def _close(
    outcome: str, deal_id: str, reason: str | None, field: list[str] | None, db: str | None, as_user: str | None
) -> None:
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        deal = sd.close_deal(
            uow=uow,
            actor_id=actor,
            deal_id=deal_id,
            outcome=outcome,
            reason=reason,
            fields=dict(pairs(field or [], field="--field")),
        )
    message = f"{deal.id} {outcome}"
    if deal.handoff:
        message += f"; handoff {deal.handoff.id} to {deal.handoff.to_owner} awaits acceptance"
    console().print(message)


ReasonOpt = Annotated[str | None, typer.Option(help="Reason code (see `process show`).")]


@app.command("win")
def win(
    deal_id: DealArg, reason: ReasonOpt = None, field: FieldOpt = None, db: DbOption = None, as_user: AsOption = None
) -> None:
    """Close a deal as won."""
    _close("won", deal_id, reason, field, db, as_user)


@app.command("lose")
def lose(
    deal_id: DealArg, reason: ReasonOpt = None, field: FieldOpt = None, db: DbOption = None, as_user: AsOption = None
) -> None:
    """Close a deal as lost."""
    _close("lost", deal_id, reason, field, db, as_user)


@app.command("disqualify")
def disqualify(
    deal_id: DealArg, reason: ReasonOpt = None, field: FieldOpt = None, db: DbOption = None, as_user: AsOption = None
) -> None:
    """Close a deal as disqualified."""
    _close("disqualified", deal_id, reason, field, db, as_user)


@app.command("reopen")
def reopen(
    deal_id: DealArg,
    reason: Annotated[str, typer.Option(help="Why the deal is open again (required).")],
    stage: Annotated[str | None, typer.Option(help="Sales stage to reopen in (default: where it closed).")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Open a won, lost or disqualified deal again (a manager, revops or admin)."""
    with workspace(db) as uow:
        deal = sd.reopen_deal(
            uow=uow, actor_id=resolve_actor(uow, as_user), deal_id=deal_id, reason=reason, stage=stage
        )
    console().print(f"{deal.id} reopened in {deal.stage}")


@app.command("reassign")
def reassign(
    deal_id: DealArg,
    to: Annotated[str, typer.Argument(help="The new owner's user id.")],
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Give a deal to another owner."""
    with workspace(db) as uow:
        deal = sd.reassign_deal(
            uow=uow, actor_id=resolve_actor(uow, as_user), deal_id=deal_id, to_owner=to, reason=reason
        )
    console().print(f"{deal.id} now owned by {deal.owner}")


@app.command("gate")
def gate(
    deal_id: DealArg,
    to: Annotated[str | None, typer.Option(help="Target stage (default: the next one).")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a deal's gate without moving it; exits 3 when it would be refused."""
    with workspace(db) as uow:
        deal, _process, result = sd.check_gate(uow=uow, deal_id=deal_id, to=to)
    unmet = [] if result is None else [str(u) for u in result.unmet]
    if as_json:
        print_json({"deal": deal.id, "stage": deal.stage, "passed": not unmet, "unmet": unmet})
    else:
        console().print(f"{deal.id} in {deal.stage}: " + ("gate passed" if not unmet else "gate not passed"))
        for line in unmet:
            console().print(f"  - {line}")
    if unmet:
        raise typer.Exit(3)


@app.command("contact")
def attach_contact(
    deal_id: DealArg,
    contact: Annotated[str, typer.Argument(help="Contact id.")],
    role: Annotated[str, typer.Option(help="Their role on the deal: economic_buyer, champion, ...")],
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Attach a contact to a deal in a role."""
    _capture(db, as_user, deal_id, cmds.AttachContact(contact_id=contact, role=role))
    console().print(f"{contact} attached to {deal_id} as {role}")


@app.command("qualify")
def qualify(
    deal_id: DealArg,
    framework: Annotated[str, typer.Argument(help="bant, meddic...")],
    element: Annotated[str, typer.Argument(help="budget, authority, need, timeline...")],
    note: Annotated[str, typer.Option(help="The evidence, in a sentence.")] = "",
    unconfirm: Annotated[bool, typer.Option(help="Withdraw an earlier confirmation.")] = False,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Confirm one element of a qualification framework, with its evidence."""
    command = cmds.ScoreQualification(framework=framework, element=element, confirmed=not unconfirm, note=note)
    deal = _capture(db, as_user, deal_id, command)
    score = len(deal.qualification.get(framework, {}))
    console().print(f"{deal.id} {framework.upper()} score: {score}")


@app.command("approve")
def approve(
    deal_id: DealArg,
    approval: Annotated[str, typer.Argument(help="discount, legal, pricing...")],
    note: Annotated[str, typer.Option(help="What was approved.")] = "",
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Record an approval on a deal."""
    _capture(db, as_user, deal_id, cmds.RecordApproval(approval=approval, note=note))
    console().print(f"{approval} approval recorded on {deal_id}")


@app.command("attach")
def attach(
    deal_id: DealArg,
    document: Annotated[str, typer.Argument(help="proposal, contract, scope...")],
    name: Annotated[str, typer.Option(help="Document name.")],
    url: Annotated[str | None, typer.Option(help="Link to it.")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Attach a document or link to a deal."""
    _capture(db, as_user, deal_id, cmds.AttachDocument(document=document, name=name, url=url))
    console().print(f"{document} attached to {deal_id}")


@activity_app.command("log")
def log_activity(
    deal_id: DealArg,
    kind: Annotated[str, typer.Argument(help="call, email, meeting or note.")],
    summary: Annotated[str, typer.Argument(help="What happened.")],
    at: Annotated[str | None, typer.Option(help="When (default: now), e.g. 2026-11-20T15:00.")] = None,
    contact: Annotated[str | None, typer.Option(help="Contact id.")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Log a call, email, meeting or note on a deal."""
    when = parse_when(at, field="--at") if at else None
    _capture(db, as_user, deal_id, cmds.LogActivity(kind=kind, summary=summary, at=when, contact_id=contact))
    console().print(f"{kind} logged on {deal_id}")


@next_step_app.command("set")
def set_next_step(
    deal_id: DealArg,
    action: Annotated[str, typer.Argument(help="What happens next, e.g. 'Demo with IT'.")],
    due: Annotated[str, typer.Option(help="When: 2026-12-01, +3d or 'in 4h'.")],
    owner: Annotated[str | None, typer.Option(help="Who does it (default: you).")] = None,
    confirmed: Annotated[bool, typer.Option("--confirmed", help="The buyer confirmed it.")] = False,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Set the next step of a deal."""
    when = parse_when(due, field="--due")
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        command = cmds.SetNextStep(action=action, owner=owner or actor, due=when, buyer_confirmed=confirmed)
        sd.capture_evidence(uow=uow, actor_id=actor, deal_id=deal_id, command=command)
    console().print(f"next step set on {deal_id}: {action}, due {when:%Y-%m-%d %H:%M}")
