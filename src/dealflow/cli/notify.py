"""``dealflow webhook``, ``dealflow calendar`` and ``dealflow worker``: where notifications go, the
calendar feed URL, and the scheduler that delivers them and runs the timed checks."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console
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
from dealflow.services import calendar as cal
from dealflow.services import webhooks as wh
from dealflow.services.notifications import WEBHOOK_EVENTS
from dealflow.worker import delivery
from dealflow.worker.scheduler import JobResult, Worker

webhook_app = typer.Typer(help="Webhooks: URLs that receive events as signed JSON.", no_args_is_help=True)
calendar_app = typer.Typer(help="Your calendar feed: next steps in any calendar app.", no_args_is_help=True)


@webhook_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="The http(s) URL to POST events to.")],
    events: Annotated[str, typer.Option("--events", help=f"Comma-separated, among {', '.join(WEBHOOK_EVENTS)}.")],
    secret: Annotated[
        str | None, typer.Option(help="Signing secret, 16+ characters (default: a random one, printed).")
    ] = None,
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send these events to a URL, each signed with X-Dealflow-Signature (revops and admins)."""
    with workspace(db) as uow:
        hook = wh.add_webhook(
            uow=uow, actor_id=resolve_actor(uow, as_user), url=url, events=events.split(","), secret=secret
        )
    if as_json:
        print_json({**hook.__dict__})
        return
    out = console()
    out.print(f"added webhook {hook.id} for {', '.join(hook.events)} -> {hook.url}")
    out.print(f"signing secret: {hook.secret}")


@webhook_app.command("list")
def list_hooks(db: DbOption = None, as_user: AsOption = None, as_json: JsonOption = False) -> None:
    """List the webhooks."""
    with workspace(db) as uow:
        hooks = wh.list_webhooks(uow=uow, actor_id=resolve_actor(uow, as_user))
    if as_json:
        print_json([{k: v for k, v in h.__dict__.items() if k != "secret"} for h in hooks])
        return
    table = Table("id", "url", "events", "active", "added", "by")
    for h in hooks:
        active = "yes" if h.active else "no"
        table.add_row(h.id, h.url, ", ".join(h.events), active, f"{h.created_at:%Y-%m-%d}", h.created_by)
    console().print(table)


@webhook_app.command("remove")
def remove(
    webhook_id: Annotated[str, typer.Argument(help="Webhook id, like wh_1a2b3c4d5e6f, or its URL.")],
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Stop sending to a webhook."""
    with workspace(db) as uow:
        count = wh.remove_webhook(uow=uow, actor_id=resolve_actor(uow, as_user), webhook_id=webhook_id)
    console().print(f"removed {count} webhook{'s' if count != 1 else ''} ({webhook_id})")


@webhook_app.command("log")
def log(
    webhook_id: Annotated[str | None, typer.Argument(help="Only this webhook's deliveries.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only email or webhook deliveries.")] = None,
    limit: Annotated[int, typer.Option(help="How many attempts, newest first.")] = 50,
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """The delivery log: every attempt, with its time, answer or error, and how long it took."""
    if kind not in (None, "email", "webhook"):
        raise InvalidInput("must be email or webhook", field="--kind")
    with workspace(db) as uow:
        rows = wh.delivery_log(
            uow=uow, actor_id=resolve_actor(uow, as_user), webhook_id=webhook_id, kind=kind, limit=limit
        )
    if as_json:
        print_json(rows)
        return
    table = Table("at", "kind", "to", "event", "try", "result", "ms", "status")
    for r in rows:
        result = "ok" if r["ok"] else (r["error"] or f"HTTP {r['status_code']}")
        if r["ok"] and r["status_code"]:
            result = f"ok {r['status_code']}"
        table.add_row(
            f"{r['at']:%Y-%m-%d %H:%M:%S}",
            r["kind"],
            str(r["to"]),
            str(r["event"]),
            str(r["attempt"]),
            result,
            f"{r['duration_ms']:.0f}",
            r["status"],
        )
    console().print(table)


@calendar_app.command("url")
def url(db: DbOption = None, as_user: AsOption = None) -> None:
    """Make your private calendar feed URL (a new one each time: the previous stops working)."""
    with workspace(db) as uow:
        token = cal.create_feed(uow=uow, user_id=resolve_actor(uow, as_user))
        base, origin = cal.base_address(uow.connection, settings_for(db).base_url)
    console().print(cal.feed_url(base, token))
    Console(stderr=True, highlight=False, soft_wrap=True, markup=False).print(f"(its address is {origin})")


@calendar_app.command("revoke")
def revoke(db: DbOption = None, as_user: AsOption = None) -> None:
    """Stop your calendar feed URL from working."""
    with workspace(db) as uow:
        count = cal.revoke_feeds(uow=uow, user_id=resolve_actor(uow, as_user))
    console().print(f"revoked {count} calendar feed{'s' if count != 1 else ''}")


def worker(
    once: Annotated[bool, typer.Option("--once", help="Run one pass and stop.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.", min=0.1)] = 10.0,
    db: DbOption = None,
) -> None:
    """Run the scheduler: deliver the outbox (email, webhooks), flag missed service levels, send
    the daily reminders, and every other registered job, each once per time slot."""
    settings = settings_for(db)
    engine = engine_for(db)
    delivery.configure(engine, settings)
    if not settings.smtp_host:
        console().print("no DEALFLOW_SMTP_HOST set: emails wait in the outbox until one is")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    out = console()

    def report(results: list[JobResult]) -> None:
        for r in results:
            if r.error:
                out.print(f"{r.name}: failed: {r.error}")
            elif r.ran and (r.done or once):
                out.print(f"{r.name}: {r.done} in {r.seconds:.2f}s")
            elif once and not r.ran:
                out.print(f"{r.name}: already run in this time slot")

    Worker(engine).run(interval=interval, once=once, report=report)


def register(app: typer.Typer) -> None:
    """Add these commands to the ``dealflow`` command."""
    app.add_typer(webhook_app, name="webhook")
    app.add_typer(calendar_app, name="calendar")
    app.command("worker")(worker)
