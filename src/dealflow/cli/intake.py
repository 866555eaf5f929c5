"""``dealflow lead import|route|escalate|intake`` and ``dealflow user away``: intake, routing, speed to lead."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from dealflow.cli import leads
from dealflow.cli.context import (
    AsOption,
    DbOption,
    JsonOption,
    console,
    engine_for,
    parse_when,
    print_json,
    resolve_actor,
    workspace,
)
from dealflow.cli.workspace import users_app
from dealflow.errors import InvalidInput
from dealflow.imports.csvfiles import read_table
from dealflow.services import intake, routing


def import_leads(
    file: Annotated[Path, typer.Argument(help="CSV with columns name, email, company, source (and any others).")],
    process: Annotated[
        str | None, typer.Option(help="Process whose routing places the leads (default: the workspace's default).")
    ] = None,
    source: Annotated[str, typer.Option(help="Source for rows without one.")] = "import",
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Import leads from a CSV file, all or nothing; rows already there are skipped."""
    table = read_table(file)
    with workspace(db) as uow:
        found = intake.import_leads(
            uow=uow, actor_id=resolve_actor(uow, as_user), table=table, process_key=process, source=source
        )
    console().print(intake.summary(found))


def route(
    lead_id: Annotated[str, typer.Argument(help="Lead id, like L-3.")],
    process: Annotated[str | None, typer.Option(help="Process whose routing to use (default: the lead's).")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Route an open lead again, away from its owner."""
    with workspace(db) as uow:
        found = routing.reassign_lead(
            uow=uow, actor_id=resolve_actor(uow, as_user), lead_id=lead_id, process_key=process
        )
    console().print(f"{lead_id} assigned to {found.owner} ({found.reason})")


def escalate(
    at: Annotated[str | None, typer.Option("--at", help="As if at this time (default: now).")] = None,
    db: DbOption = None,
) -> None:
    """Escalate and reassign leads not touched within their speed-to-lead time."""
    now = parse_when(at, field="--at") if at else datetime.now(UTC)
    count = routing.escalate_overdue_leads(engine_for(db), now)
    console().print(f"escalated {count} lead{'s' if count != 1 else ''}")


def intake_stats(
    form: Annotated[str | None, typer.Option(help="Only this form.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """How the public form posts of the last day ended (created, resubmitted, spam, rejected, limited)."""
    with workspace(db) as uow:
        counts = intake.attempt_counts(uow.connection, form=form)
    if as_json:
        print_json(counts)
        return
    console().print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no posts in the last day")


def away(
    user: Annotated[str, typer.Argument(help="The user who is away.")],
    until: Annotated[str | None, typer.Option(help="Back at (2026-12-01, +3d); leave out with --back.")] = None,
    since: Annotated[str | None, typer.Option("--from", help="Away from (default: now).")] = None,
    back: Annotated[bool, typer.Option("--back", help="The user is back: clear the absence.")] = False,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Mark a user out of office: routing gives them no leads until they are back."""
    if not back and until is None:
        raise InvalidInput("give --until DATE, or --back", field="--until")
    end = None if back else parse_when(until or "", field="--until")
    start = parse_when(since, field="--from") if since else None
    with workspace(db) as uow:
        routing.set_away(uow=uow, actor_id=resolve_actor(uow, as_user), user_id=user, until=end, since=start)
    console().print(f"{user} is back" if back else f"{user} is away until {end:%Y-%m-%d %H:%M} UTC")


def register(app: typer.Typer) -> None:
    """Add the intake commands to ``lead`` and ``user``."""
    leads.app.command("import")(import_leads)
    leads.app.command("route")(route)
    leads.app.command("escalate")(escalate)
    leads.app.command("intake")(intake_stats)
    users_app.command("away")(away)
