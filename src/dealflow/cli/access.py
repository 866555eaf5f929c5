"""``dealflow serve``, ``policy``, ``user password`` and ``token``: who gets into a workspace and may do what."""

from __future__ import annotations

import sys
from datetime import timedelta
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
from dealflow.cli.workspace import users_app
from dealflow.domain.access import POLICY_ACTORS, policy_table
from dealflow.errors import InvalidInput
from dealflow.process.durations import parse_duration
from dealflow.services import auth, tokens
from dealflow.services import demo as demo_data
from dealflow.services import workspace as ws
from dealflow.store import queries
from dealflow.store.engine import check_ready, redact, upgrade
from dealflow.store.unit_of_work import UnitOfWork

token_app = typer.Typer(help="API tokens for scripts: shown once, stored hashed, revocable.", no_args_is_help=True)
DEMO_PASSWORD = "dealflow-demo"
HINT = "log in as " + ", ".join(
    f"{u} ({'/'.join(roles)}{f', {team}' if team else ''})" for u, _, roles, team in demo_data.TEAM
)
HINT += f" with the password {DEMO_PASSWORD}"


def intake_hint(host: str, port: int) -> str:
    """How to send the demo a lead through its website form."""
    base = f"http://{host}:{port}"
    return (
        f"post a lead through the demo's website form at {base}/intake/website, or: curl -d name='Ann Lee' "
        f"-d email=ann@acme.io -d region=east {base}/api/v1/intake/website (east goes to sam or sofia, west to lena)"
    )


def _seed_demo(db: str | None) -> None:
    """Seed the demo into an empty workspace and give its users the demo password."""
    engine = engine_for(db, ready=False)
    upgrade(engine)
    with UnitOfWork(engine) as uow:
        empty = not queries.count_events(uow.connection)
    if not empty:
        console().print(f"the workspace already holds data, so no demo was seeded (if --demo made it: {HINT})")
        return
    console().print(demo_data.seed_demo(engine))
    for user_id, *_ in demo_data.TEAM:
        with UnitOfWork(engine) as uow:
            auth.set_password(uow=uow, user_id=user_id, password=DEMO_PASSWORD)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    db: DbOption = None,
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo first if the workspace is empty.")] = False,
) -> None:
    """Serve the web application and the REST API (docs at /api/v1/docs) with Uvicorn."""
    # Loaded only to serve, so that every other command starts without the web stack.
    import uvicorn

    from dealflow.server.app import create_app

    if demo:
        _seed_demo(db)
    engine = engine_for(db, ready=False)
    check_ready(engine)
    with UnitOfWork(engine) as uow:
        ws.announce_server(uow=uow, host=host, port=port)
    app = create_app(settings_for(db), engine=engine)
    console().print(f"serving {redact(str(engine.url))}: open http://{host}:{port}/ (API docs at /api/v1/docs)")
    if demo:
        console().print(HINT)
        console().print(intake_hint(host, port))
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")


def set_password(
    user_id: Annotated[str, typer.Argument(help="The user whose password to set.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Set a user's password (they can then log in to the web app); their sessions end."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        raise InvalidInput(
            "there is no terminal to type the password at: send it on standard input with --password-stdin, "
            f"like: printf '%s\\n' 'a long passphrase' | dealflow user password {user_id} --password-stdin",
            field="password",
        )
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with workspace(db) as uow:
        auth.set_password(uow=uow, user_id=user_id, password=password)
    console().print(f"password set for {user_id}")


@token_app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="What the token is for, like 'nightly export'.")],
    user: Annotated[str | None, typer.Option(help="Whose token (default: you; others need revops or admin).")] = None,
    expires: Annotated[str | None, typer.Option(help="Lifetime, like 90d (default: until revoked).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the token, for a script to keep.")] = False,
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make an API token; it is printed this once (send it as `Authorization: Bearer TOKEN`)."""
    try:
        lifetime: timedelta | None = None if expires is None else parse_duration(expires)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="--expires") from None
    with workspace(db) as uow:
        made, secret = tokens.create_token(
            uow=uow, actor_id=resolve_actor(uow, as_user), name=name, user_id=user, expires_in=lifetime
        )
    if as_json:
        print_json({**made.__dict__, "token": secret})
        return
    if not quiet:
        console().print(f"token {made.id} for {made.user_id}; copy it now, it is not shown again:")
    console().print(secret)


@token_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option(help="Another user's (revops or admin).")] = None,
    every: Annotated[bool, typer.Option("--all", help="Everyone's (revops or admin).")] = False,
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """List API tokens (never the tokens themselves)."""
    with workspace(db) as uow:
        found = tokens.list_tokens(uow=uow, actor_id=resolve_actor(uow, as_user), user_id=user, every=every)
    if as_json:
        print_json([t.__dict__ for t in found])
        return
    table = Table("id", "user", "name", "created", "expires", "last used", "revoked")
    moment = "{:%Y-%m-%d %H:%M}".format
    for t in found:
        table.add_row(
            t.id, t.user_id, t.name, moment(t.created_at), moment(t.expires_at) if t.expires_at else "",
            moment(t.last_used_at) if t.last_used_at else "", moment(t.revoked_at) if t.revoked_at else "",
        )  # fmt: skip
    console().print(table)


@token_app.command("revoke")
def revoke_token(
    token_id: Annotated[str, typer.Argument(help="The token's id, like tok_3f9a..., or the name you gave it.")],
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Revoke an API token at once."""
    with workspace(db) as uow:
        revoked = tokens.revoke_token(uow=uow, actor_id=resolve_actor(uow, as_user), token_id=token_id)
    console().print(f"revoked {revoked.id} ({revoked.name})")


def policy_markdown() -> str:
    """Who may do what to a deal, as the README's table (from :func:`dealflow.domain.access.policy_table`)."""
    heads = [name for name, _ in POLICY_ACTORS]
    lines = ["| action | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for action, allowed in policy_table():
        lines.append(f"| {action} | " + " | ".join("yes" if ok else "no" for ok in allowed) + " |")
    return "\n".join(lines)


def policy() -> None:
    """Who may do what to a deal: the permission table every path (web, API, command line) applies."""
    typer.echo(policy_markdown())


def register(app: typer.Typer) -> None:
    """Attach ``serve``, ``policy``, ``user password`` and ``token`` to the root command."""
    app.command("serve")(serve)
    app.command("policy")(policy)
    users_app.command("password")(set_password)
    app.add_typer(token_app, name="token")
