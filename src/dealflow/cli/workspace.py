"""``dealflow init``, ``demo`` and ``rebuild``; users, accounts and contacts."""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dealflow.cli.context import (
    AsOption,
    DbOption,
    JsonOption,
    console,
    engine_for,
    print_json,
    resolve_actor,
    settings_for,
    workspace,
)
from dealflow.errors import InvalidInput
from dealflow.process.loading import load_process_file, load_template
from dealflow.services import demo as demo_data
from dealflow.services import workspace as ws
from dealflow.store import queries
from dealflow.store.engine import redact, upgrade
from dealflow.store.event_log import rebuild as replay
from dealflow.store.unit_of_work import UnitOfWork

users_app = typer.Typer(help="People on the team, with their roles and team.", no_args_is_help=True)
accounts_app = typer.Typer(help="Buying companies.", no_args_is_help=True)
contacts_app = typer.Typer(help="People on the buying side.", no_args_is_help=True)


def _local_user() -> str:
    name = re.sub(r"[^a-z0-9._-]", "", getpass.getuser().lower())
    return name or "owner"


def init(
    template: Annotated[str, typer.Option(help="Template to start from (see `process templates`).")] = "standard",
    file: Annotated[Path | None, typer.Option(help="Start from your own process file instead.")] = None,
    user: Annotated[str | None, typer.Option(help="Id of the first user (an admin holding every role).")] = None,
    db: DbOption = None,
) -> None:
    """Create (or upgrade) a workspace and install a process in it."""
    if file is not None:
        process, _ = load_process_file(file)
        source, name = file.read_text("utf-8"), file.name
    else:
        process, source = load_template(template)
        name = f"{template}.yaml"
    engine = engine_for(db, ready=False)
    upgrade(engine)
    with UnitOfWork(engine) as uow:
        installed = queries.process_source(uow.connection, key=process.key)
        first = not queries.list_users(uow.connection)
    if installed is None:
        with UnitOfWork(engine) as uow:
            ws.install_process(uow=uow, source=source, name=name)
    if first:
        user_id = user or _local_user()
        with UnitOfWork(engine) as uow:
            ws.add_user(uow=uow, user_id=user_id, name=user_id, roles=list(process.roles))
        console().print(f"added user {user_id} (roles: {', '.join(process.roles)})")
    state = "installed" if installed is None else "already installed"
    console().print(f"workspace ready at {redact(settings_for(db).database_url)}; {process.ref} {state}")


def demo(
    db: DbOption = None,
    deals: Annotated[int, typer.Option(min=7, max=5000, help="How many deals to create.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed, for a repeatable workspace.")] = 7,
) -> None:
    """Create a demo workspace: a team and realistic deals at every stage of the standard process."""
    engine = engine_for(db, ready=False)
    upgrade(engine)
    with UnitOfWork(engine) as uow:
        if queries.count_events(uow.connection):
            raise InvalidInput(
                f"{redact(str(engine.url))} already holds a workspace; use another --db for the demo", field="--db"
            )
    summary = demo_data.seed_demo(engine, deals=deals, seed=seed)
    out = console()
    out.print(f"demo workspace ready at {redact(str(engine.url))}")
    out.print(summary)


def rebuild(db: DbOption = None) -> None:
    """Rebuild every state table by replaying the event log."""
    with workspace(db) as uow:
        count = replay(uow)
        uow.commit()
    console().print(f"replayed {count} events")


@users_app.command("add")
def add_user(
    user_id: Annotated[str, typer.Argument(help="A short id, like sam or ava.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    role: Annotated[list[str], typer.Option(help="A role (sdr, ae, csm, manager, revops, admin); repeat for more.")],
    team: Annotated[str | None, typer.Option(help="Team name.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    db: DbOption = None,
) -> None:
    """Add a user."""
    with workspace(db) as uow:
        ws.add_user(uow=uow, user_id=user_id, name=name, roles=role, team=team, email=email)
    console().print(f"added user {user_id}")


@users_app.command("list")
def list_users(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List users with their roles and team."""
    with workspace(db) as uow:
        rows = queries.list_users(uow.connection)
    if as_json:
        print_json([{"id": r.id, "name": r.name, "roles": r.roles, "team": r.team, "email": r.email} for r in rows])
        return
    table = Table("user", "name", "roles", "team")
    for r in rows:
        table.add_row(r.id, r.name, ", ".join(r.roles), r.team or "")
    console().print(table)


@accounts_app.command("add")
def add_account(
    account_id: Annotated[str, typer.Argument(help="A short id, like acme.")],
    name: Annotated[str, typer.Option(help="Company name.")],
    domain: Annotated[str | None, typer.Option(help="Web domain, like acme.com.")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Add an account."""
    with workspace(db) as uow:
        ws.add_account(uow=uow, actor_id=resolve_actor(uow, as_user), account_id=account_id, name=name, domain=domain)
    console().print(f"added account {account_id}")


@contacts_app.command("add")
def add_contact(
    contact_id: Annotated[str, typer.Argument(help="A short id, like jane.doe.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    title: Annotated[str | None, typer.Option(help="Job title.")] = None,
    account: Annotated[str | None, typer.Option(help="Account id.")] = None,
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Add a contact."""
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        ws.add_contact(
            uow=uow, actor_id=actor, contact_id=contact_id, name=name, email=email, title=title, account_id=account
        )
    console().print(f"added contact {contact_id}")


def register(app: typer.Typer) -> None:
    """Attach these commands to the root command."""
    app.command("init")(init)
    app.command("demo")(demo)
    app.command("rebuild")(rebuild)
    app.add_typer(users_app, name="user")
    app.add_typer(accounts_app, name="account")
    app.add_typer(contacts_app, name="contact")
