"""``dealflow cadence``, ``dealflow touch`` and ``dealflow day``: follow-up cadences from the shell,
and ``dealflow metrics cadence``: compliance and what each step brings back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dealflow.analytics.cadence import CadenceMetrics, Compliance, Kind, StepOutcome, measure_cadences
from dealflow.cli.context import AsOption, DbOption, JsonOption, console, print_json, resolve_actor, workspace
from dealflow.errors import InvalidInput
from dealflow.services import cadences as sc
from dealflow.services.lookups import load_actor
from dealflow.store import cadence_tasks as tasks
from dealflow.store.cadence_tasks import overdue

app = typer.Typer(help="Follow-up cadences of leads and deals.", no_args_is_help=True)
touch_app = typer.Typer(help="Record the touches of a cadence.", no_args_is_help=True)
SubjectArg = Annotated[str, typer.Argument(help="A lead or deal id, like L-3 or D-7.")]


@app.command("start")
def start(subject: SubjectArg, db: DbOption = None, as_user: AsOption = None) -> None:
    """Start the cadence of a lead or deal (the process's lead or deal cadence)."""
    chosen = sc.subject_of(subject)
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        sc.check_access(uow.connection, actor=load_actor(uow.connection, user_id=actor), subject=chosen, change=True)
        run = sc.start_cadence(uow=uow, actor_id=actor, subject=chosen)
    first = run.touches[0]
    console().print(
        f"started '{run.cadence}' on {subject}: {len(run.touches)} touches, first {first.channel} due {first.due_on}"
    )


@app.command("stop")
def stop(subject: SubjectArg, db: DbOption = None, as_user: AsOption = None) -> None:
    """Stop the cadence running on a lead or deal."""
    chosen = sc.subject_of(subject)
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        sc.check_access(uow.connection, actor=load_actor(uow.connection, user_id=actor), subject=chosen, change=True)
        sc.stop_cadence(uow=uow, actor_id=actor, subject=chosen)
    console().print(f"stopped the cadence of {subject}")


@app.command("show")
def show(subject: SubjectArg, db: DbOption = None, as_user: AsOption = None, as_json: JsonOption = False) -> None:
    """The touches of a lead's or deal's cadences, the latest first."""
    chosen = sc.subject_of(subject)
    with workspace(db) as uow:
        actor = load_actor(uow.connection, user_id=resolve_actor(uow, as_user))
        sc.check_access(uow.connection, actor=actor, subject=chosen)
        rows = tasks.subject_tasks(uow.connection, subject=chosen)
    if as_json:
        print_json([dict(r._mapping) for r in rows])
        return
    table = Table("step", "due", "channel", "template", "owner", "status", "done", "outcome")
    for r in rows:
        done = f"{r.done_at:%Y-%m-%d %H:%M}" if r.done_at else ""
        status = f"{r.status} ({r.stop_reason})" if r.stop_reason else r.status
        table.add_row(str(r.step), str(r.due_on), r.channel, r.template, r.owner, status, done, r.outcome or "")
    console().print(table)


@touch_app.command("done")
def done(
    subject: SubjectArg,
    outcome: Annotated[str, typer.Option(help="What came of it: none, reply or meeting.")] = "none",
    note: Annotated[str | None, typer.Option(help="A short note.")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Record the next open touch of a lead's or deal's cadence."""
    chosen = sc.subject_of(subject)
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        sc.check_access(uow.connection, actor=load_actor(uow.connection, user_id=actor), subject=chosen, change=True)
        found = sc.record_touch(uow=uow, actor_id=actor, subject=chosen, outcome=outcome, note=note)
    ending = f"; the cadence stopped ({found.stopped})" if found.stopped else ""
    console().print(f"{subject}: touch {found.step} ({found.channel}) done, outcome {found.outcome}{ending}")


def day(db: DbOption = None, as_user: AsOption = None, as_json: JsonOption = False) -> None:
    """Your cadence touches due today and the overdue ones, oldest first."""
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        today = tasks.as_of(uow.clock())
        rows = tasks.due_tasks(uow.connection, owner=actor, today=today)
        names = tasks.titles(uow.connection, [r.subject for r in rows])
    found = [_due_row(r, names, today) for r in rows]
    if as_json:
        print_json(found)
        return
    table = Table("due", "", "subject", "name", "step", "channel", "template", title=f"{actor}'s touches due")
    for f in found:
        late = "overdue" if f["overdue"] else "today"
        table.add_row(str(f["due_on"]), late, f["id"], f["name"], str(f["step"]), f["channel"], f["template"])
    out = console()
    out.print(table)
    if found:
        out.print(f"record one with: dealflow touch done {found[0]['id']} [--outcome reply|meeting]")


def _due_row(r: Any, names: dict[str, str], today: Any) -> dict[str, Any]:
    return {
        "subject": r.subject, "id": r.subject.split(":", 1)[1], "name": names.get(r.subject, ""), "step": r.step,
        "channel": r.channel, "template": r.template, "due_on": r.due_on, "overdue": overdue(r.due_on, today),
        "cadence": r.cadence,
    }  # fmt: skip


def metrics_cadence(
    kind: Annotated[str | None, typer.Option(help="Only leads' or only deals' cadences: lead or deal.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this rep's touches.")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team's touches.")] = None,
    grace: Annotated[
        int | None, typer.Option(help="Days after the due day still on time (default: the process's).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cadence compliance per rep and step, reply and meeting rates per step and channel, depth."""
    if kind not in (None, "lead", "deal"):
        raise InvalidInput("must be lead or deal", field="--kind")
    if grace is not None and not 0 <= grace <= 30:
        raise InvalidInput("must be between 0 and 30 days", field="--grace")
    chosen: Kind | None = "lead" if kind == "lead" else "deal" if kind == "deal" else None
    with workspace(db) as uow:
        if grace is None:
            process = sc.lead_process(uow.connection)
            grace = process.cadence.grace_days if process is not None else 1
        found = measure_cadences(
            uow.connection, today=datetime.now(UTC).date(), grace_days=grace, kind=chosen, owner=owner, team=team
        )
    if as_json:
        print_json(found.as_json())
        return
    show_metrics(found, console())


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _compliance_table(title: str, head: str, rows: list[Compliance]) -> Table:
    table = Table(head, "due", "on time", "late", "missed", "on time %", title=title)
    for r in rows:
        table.add_row(r.key, str(r.due), str(r.on_time), str(r.late), str(r.missed), _pct(r.share_on_time))
    return table


def _outcome_table(title: str, head: str, rows: list[StepOutcome]) -> Table:
    table = Table(head, "touches", "replies", "meetings", "reply rate", "meeting rate", title=title)
    for r in rows:
        table.add_row(r.key, str(r.touches), str(r.replies), str(r.meetings), _pct(r.reply_rate), _pct(r.meeting_rate))
    return table


def show_metrics(found: CadenceMetrics, out: Console) -> None:
    """Print the cadence metrics as Rich tables."""
    total = found.compliance
    out.print(
        f"cadence compliance as of {found.as_of} (grace {found.grace_days} d): {total.on_time} of {total.due} "
        f"touches on time ({_pct(total.share_on_time)}), {total.late} late, {total.missed} missed"
    )
    out.print(_compliance_table("On time by rep", "rep", found.by_rep))
    out.print(_compliance_table("On time by step", "step", found.by_step))
    out.print(_outcome_table("Outcome by step", "step", found.outcomes_by_step))
    out.print(_outcome_table("Outcome by channel", "channel", found.outcomes_by_channel))
    replies = ", ".join(f"{step}: {n}" for step, n in found.touches_to_first_reply.items()) or "no replies yet"
    out.print(f"touches to first reply (step: cadences): {replies}")
    depth = Table("of", "running", "ended", "reached 5", "answered before 5", "dropped before 5", title="Depth")
    for d in found.depth:
        depth.add_row(
            d.kind, str(d.running), str(d.ended), f"{d.reached_five} ({_pct(d.share_reached_five)})",
            str(d.answered_before_five), f"{d.dropped_before_five} ({_pct(d.share_dropped_before_five)})",
        )  # fmt: skip
    out.print(depth)


def register(root: typer.Typer) -> None:
    """Attach ``cadence``, ``touch`` and ``day`` to the root command."""
    root.add_typer(app, name="cadence")
    root.add_typer(touch_app, name="touch")
    root.command("day")(day)
