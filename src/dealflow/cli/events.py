"""``dealflow events``: exporting the event log as CSV or JSON lines."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TextIO

import typer

from dealflow.cli.context import DbOption, console, workspace
from dealflow.errors import InvalidInput
from dealflow.store.event_log import read_events

app = typer.Typer(help="The event log: every change, in order.", no_args_is_help=True)
COLUMNS = ("seq", "stream", "version", "type", "actor", "at", "data")


def _rows(db: str | None) -> Iterator[dict[str, object]]:
    with workspace(db) as uow:
        for seq, version, e in read_events(uow.connection):
            yield {
                "seq": seq,
                "stream": e.stream,
                "version": version,
                "type": e.type,
                "actor": e.actor,
                "at": e.at.isoformat(),
                "data": e.data,
            }


def _write(out: TextIO, rows: Iterator[dict[str, object]], fmt: str) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "data": json.dumps(row["data"], ensure_ascii=False, sort_keys=True)})
            count += 1
    else:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


@app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "jsonl",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    db: DbOption = None,
) -> None:
    """Export every event, oldest first."""
    if fmt not in ("csv", "jsonl"):
        raise InvalidInput("must be csv or jsonl", field="--format")
    if output is None:
        _write(sys.stdout, _rows(db), fmt)
        return
    partial = output.with_name(output.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as out:
        count = _write(out, _rows(db), fmt)
    partial.replace(output)
    console().print(f"wrote {count} events to {output}")
