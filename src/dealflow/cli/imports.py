"""``dealflow import``: other systems' exports into the event log, with a data-quality report."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dealflow.cli.context import AsOption, DbOption, JsonOption, console, print_json, resolve_actor, workspace
from dealflow.imports.history import ImportReport
from dealflow.imports.recording import Progress as Advance
from dealflow.services.imports import FORMATS, import_file
from dealflow.store.processes import default_process_key

FORMAT_HELP = "; ".join(f"{name}: {text}" for name, (_, text) in FORMATS.items())


@contextmanager
def _progress(enabled: bool) -> Iterator[object]:
    """A progress bar on stderr for long imports (hidden when stderr is not a terminal)."""
    bar = Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
    )
    with bar:
        yield bar


def import_command(
    file: Annotated[Path, typer.Argument(help="The exported file (or, for maven, its folder).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"The file's format. {FORMAT_HELP}.")] = "events",
    process: Annotated[
        str | None, typer.Option("--process", help="Import into this process (created from the file if missing).")
    ] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help="Prefix of the imported deal ids.")] = None,
    date_format: Annotated[
        str | None, typer.Option("--date-format", help="strptime pattern of the dates, e.g. %d/%m/%Y.")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="Column-mapping file (YAML) for --format mapping.")
    ] = None,
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import deal history exported from another system (revops or admin); importing the same file
    again changes nothing."""
    with _progress(sys.stderr.isatty() and not as_json) as bar, workspace(db) as uow:

        def start(total: int) -> Advance:
            task = bar.add_task("import", total=total)  # type: ignore[attr-defined]
            return lambda done: bar.update(task, advance=done)  # type: ignore[attr-defined]

        report = import_file(
            uow=uow,
            actor_id=resolve_actor(uow, as_user),
            path=file,
            fmt=fmt,
            process_key=process,
            prefix=prefix,
            date_format=date_format,
            mapping=mapping,
            progress=start,
        )
        default = default_process_key(uow.connection)
    if as_json:
        print_json({**asdict(report), "issue_counts": report.issue_counts(), "default_process": default})
        return
    _print(report)
    key = report.process.split("@", 1)[0]
    if default is not None and key != default:
        console().print(
            f"the workspace's default process stays {default}: name this one with --process {key} "
            f"(metrics, audit, board), or make it the default with `dealflow process default {key}`"
        )


def _print(report: ImportReport) -> None:
    out = console()
    out.print(f"imported {report.file} ({report.format}) into {report.process}")
    out.print(
        f"{report.rows:,} rows, {report.deals_seen:,} deals: {report.deals_new:,} new, "
        f"{report.deals_extended:,} extended, {report.deals_unchanged:,} unchanged, {report.deals_skipped:,} skipped; "
        f"{report.events_written:,} events; {report.users_added} users and {report.accounts_added} accounts added"
    )
    if not report.issues:
        out.print("data quality: no issues found")
        return
    counts = ", ".join(f"{code} {n}" for code, n in report.issue_counts().items())
    out.print(f"data quality: {len(report.issues):,} issues ({counts})")
    table = Table("issue", "line", "deal", "what")
    for issue in report.issues[:50]:
        table.add_row(issue.code, str(issue.row or ""), issue.ref or "", issue.message)
    out.print(table)
    if len(report.issues) > 50:
        out.print(f"... and {len(report.issues) - 50:,} more (use --json for all)")


def register(app: typer.Typer) -> None:
    """Attach ``dealflow import`` to the root command."""
    app.command("import")(import_command)
