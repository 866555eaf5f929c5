"""``dealflow process``: list, show, validate and install process files, migrate deals; list templates."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dealflow.cli.context import AsOption, DbOption, JsonOption, console, print_json, resolve_actor, workspace
from dealflow.process.durations import format_duration
from dealflow.process.loading import load_process_file, load_template, template_names
from dealflow.process.models import Process
from dealflow.services import workspace as ws
from dealflow.services.migration import migrate as migrate_deals
from dealflow.services.migration import parse_mapping
from dealflow.store import queries
from dealflow.store.processes import default_process_key, load_process

app = typer.Typer(help="Process files: stages, exit evidence, owners and service levels.", no_args_is_help=True)


@app.command("templates")
def templates(as_json: JsonOption = False) -> None:
    """List the process templates dealflow ships."""
    found = [load_template(name)[0] for name in template_names()]
    if as_json:
        print_json([{"template": p.key, "name": p.name, "stages": [s.key for s in p.stages]} for p in found])
        return
    table = Table("template", "name", "stages")
    for p in found:
        table.add_row(p.key, p.name, " > ".join(s.name for s in p.stages))
    console().print(table)


@app.command("list")
def list_processes(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the processes installed in the workspace; the default one is marked."""
    with workspace(db) as uow:
        rows = queries.list_processes(uow.connection)
        default = default_process_key(uow.connection)
    if as_json:
        keys = ("key", "version", "name", "installed_at")
        print_json([{**{k: getattr(r, k) for k in keys}, "default": r.key == default} for r in rows])
        return
    table = Table("process", "version", "name", "installed", "default")
    for r in rows:
        mark = "yes" if r.key == default else ""
        table.add_row(r.key, str(r.version), r.name, f"{r.installed_at:%Y-%m-%d %H:%M}", mark)
    console().print(table)
    if len(rows) > 1:
        console().print(
            f"the board, metrics and new leads use {default} unless told otherwise (`dealflow process default KEY`)"
        )


@app.command("default")
def choose_default(
    key: Annotated[str, typer.Argument(help="The installed process to make the default.")],
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Make a process the workspace's default: the board, metrics and new leads use it when none is named."""
    with workspace(db) as uow:
        process = ws.choose_default_process(uow=uow, key=key, actor_id=resolve_actor(uow, as_user))
    console().print(f"{process.key} is the default process")


def _describe(process: Process) -> None:
    out = console()
    out.print(f"{process.name} ({process.ref}, {process.currency})")
    if process.description:
        out.print(process.description.strip())
    for i, stage in enumerate(process.stages, 1):
        sla = f", SLA {format_duration(stage.sla)}" if stage.sla else ""
        post = " [post-sale]" if stage.post_sale else ""
        out.print(f"\n{i}. {stage.name} ({stage.key}) owner: {stage.owner_role}{sla}{post}")
        if stage.goal:
            out.print(f"   goal: {stage.goal}")
        if stage.required:
            out.print(f"   required: {', '.join(stage.required)}")
        for criterion in (*stage.entry,):
            out.print(f"   entry: {criterion.describe()}")
        for criterion in stage.exit:
            out.print(f"   exit: {criterion.describe()}")
        if stage.handoff.context:
            context = ", ".join(stage.handoff.context)
            out.print(f"   handoff needs: {context} (accept within {format_duration(stage.handoff.sla)})")
    out.print(f"\nwon from: {', '.join(process.won_from)}; overrides by: {', '.join(process.overrides.roles)}")
    for name in ("won", "lost", "disqualified"):
        outcome = getattr(process.outcomes, name)
        parts = []
        if outcome.reasons:
            parts.append(f"reasons: {', '.join(outcome.reasons)}")
        if outcome.required:
            parts.append(f"required: {', '.join(outcome.required)}")
        parts.extend(f"needs: {c.describe()}" for c in outcome.criteria)
        out.print(f"{name}: {'; '.join(parts) or 'no requirements'}")
    out.print(f"cadence: {process.cadence.name}, {len(process.cadence.touches)} touches")
    lead = process.leads.cadence
    stops = ", ".join(lead.stop_on) or "nothing"
    out.print(f"lead cadence: {lead.name}, {len(lead.touches)} touches, stops on {stops}")


@app.command("show")
def show(
    key: Annotated[str, typer.Argument(help="Process key, or a template name with --template.")],
    template: Annotated[bool, typer.Option("--template", help="Show a shipped template.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a process: its stages, owners, SLAs, required fields and exit criteria."""
    if template:
        process = load_template(key)[0]
    else:
        with workspace(db) as uow:
            process = load_process(uow.connection, key=key)
    if as_json:
        print_json(process.model_dump(mode="json", by_alias=True))
        return
    _describe(process)


@app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="The process file (YAML) to check.")],
    as_json: JsonOption = False,
) -> None:
    """Check a process file; print every problem with its file, line and field."""
    process, warnings = load_process_file(file)
    if as_json:
        print_json({"valid": True, "process": process.ref, "warnings": warnings})
        return
    for warning in warnings:
        console().print(f"warning: {warning}")
    console().print(f"{file.name}: valid ({process.ref}, {len(process.stages)} stages)")


@app.command("install")
def install(
    file: Annotated[Path, typer.Argument(help="The process file (YAML) to install.")],
    db: DbOption = None,
    as_user: AsOption = None,
) -> None:
    """Install a process file (or a new version of one) into the workspace."""
    process, _ = load_process_file(file)
    source = file.read_text("utf-8")
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        ws.install_process(uow=uow, source=source, name=file.name, actor_id=actor)
    console().print(f"installed {process.ref}")


@app.command("migrate")
def migrate(
    key: Annotated[str, typer.Argument(help="The process whose running deals move.")],
    to: Annotated[int, typer.Option("--to", help="The installed version to move them to.", min=1)],
    map_: Annotated[
        list[str] | None, typer.Option("--map", help="OLD=NEW: where deals in a stage the new version lacks go.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")] = False,
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move the running deals of a process onto a newer version: each keeps its stage (or the one
    --map names), and the new version's gate out of it is judged and reported (revops or admin)."""
    mapping = parse_mapping(map_ or [])
    with workspace(db) as uow:
        actor = resolve_actor(uow, as_user)
        report = migrate_deals(uow=uow, actor_id=actor, key=key, to_version=to, mapping=mapping, dry_run=dry_run)
    if as_json:
        print_json(
            {
                "process": report.process,
                "to_version": report.to_version,
                "dry_run": report.dry_run,
                "migrated": report.migrated,
                "gate_unmet": report.gate_unmet,
                "deals": [asdict(d) for d in report.deals],
            }
        )
        return
    out = console()
    table = Table("deal", "from", "to", "gate out of it now", title=f"{key} to version {to}")
    for d in report.deals:
        moved = f"v{report.to_version} {d.to_stage}" if d.skipped is None else f"stays: {d.skipped}"
        gate = "-" if d.skipped else ("passes" if not d.exit_unmet else "; ".join(d.exit_unmet))
        table.add_row(d.deal_id, f"v{d.from_version} {d.from_stage}", moved, gate)
    out.print(table)
    verb = "would move" if dry_run else "moved"
    out.print(f"{verb} {report.migrated} deal(s) to {key}@{to}; {report.gate_unmet} of them do not pass their gate yet")
