"""HubSpot deal exports: one row per deal, with a ``Date entered "<stage> (<pipeline>)"`` column per stage.

HubSpot stamps those columns (its stage calculated properties) each time a deal enters a stage; the
stages a deal went through are the ones with a date, in order of date. The outcome is the current
``Deal Stage`` (Closed Won, Closed Lost), closed at its "Date entered" (or the Close Date). HubSpot
keeps only the latest entry into each stage, so a stage entered twice shows up once, at its second
entry. An export that mixes pipelines is read for the pipeline holding the most deals; the others are
listed in the report, to be exported and imported on their own.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dealflow.imports.csvfiles import DateColumn, Table, as_date, date_column, first_of, parse_amount, read_table
from dealflow.imports.history import DealHistory, ImportReport, StageEntry, outcome_of, slug
from dealflow.imports.sources import Source

WHAT = "a HubSpot deals export"
REQUIRED = (("Record ID", "Deal ID"), ("Deal Name",), ("Deal Stage",))
AMOUNT = ("Amount in company currency", "Amount")
OWNER = ("Deal owner", "Deal Owner", "HubSpot Owner")
COMPANY = ("Associated Company", "Associated Company (Primary)", "Company name", "Company")
REASON = {
    "won": ("Closed Won Reason", "Closed won reason"),
    "lost": ("Closed Lost Reason", "Closed lost reason"),
    "disqualified": ("Closed Lost Reason", "Closed lost reason"),
}
DIMENSIONS = {
    "source": ("Deal source", "Original Source", "Original Source Type", "Original Traffic Source", "Source"),
    "segment": ("Segment", "Market segment"),
    "product": ("Product", "Product name"),
}
# 'Date entered "Closed Won (Sales Pipeline)"', quoted with " or ', or bare.
_ENTERED = re.compile(r"^date entered\s+(?P<q>[\"']?)(?P<label>.+?)(?P=q)\s*$", re.IGNORECASE)
_PIPELINE = re.compile(r"^(?P<stage>.*\S)\s*\((?P<pipeline>[^()]+)\)$")
_CURRENT = "Date entered current stage"


@dataclass(frozen=True)
class StageColumn:
    """One ``Date entered`` column: the stage it stamps and the pipeline named in its header."""

    column: str
    stage: str
    pipeline: str | None


def stage_columns(header: list[str]) -> list[StageColumn]:
    """The ``Date entered`` columns of a header, with the stage and pipeline read from each name."""
    found = []
    for column in header:
        match = _ENTERED.match(column)
        if match is None or column.lower() == _CURRENT.lower():
            continue
        label = match.group("label").strip()
        suffix = _PIPELINE.match(label)
        stage, pipeline = (suffix.group("stage"), suffix.group("pipeline").strip()) if suffix else (label, None)
        found.append(StageColumn(column, stage.strip(), pipeline))
    return found


def read_hubspot(path: Path, *, report: ImportReport, date_format: str | None = None) -> Source:
    """Deal histories from a HubSpot deals export (CSV)."""
    table = read_table(path)
    id_column, _, _ = table.require_one_of(REQUIRED, what=WHAT)
    columns = stage_columns(table.header)
    if not columns:
        table.require(['Date entered "<stage> (<pipeline>)"'], what=f"{WHAT} with stage dates")
    dates = {c.column: date_column(table, c.column, forced=date_format) for c in columns}
    for extra in ("Close Date", "Create Date", _CURRENT):
        if extra in table.header:
            dates[extra] = date_column(table, extra, forced=date_format)
    pipeline_of = [_pipeline(table, row, columns) for row in table.rows]
    main = _main_pipeline(pipeline_of)
    own = [c for c in columns if c.pipeline in (main, None)]
    histories = []
    for i, row in enumerate(table.rows):
        if pipeline_of[i] != main:
            continue
        history = _history(table, i, row[id_column], own, dates, report)
        if history is not None:
            histories.append(history)
    for pipeline, n in Counter(p for p in pipeline_of if p != main).items():
        report.add(
            "other_pipeline",
            f"{n} deal{'s' if n > 1 else ''} of pipeline {pipeline or '(none)'!r} left out: this import reads "
            f"{main!r}, the pipeline with the most deals (export the other pipeline on its own to import it)",
        )
    if not any(c in table.header for c in OWNER):
        report.add("unknown_owner", f"{table.name} has no Deal owner column: deals are imported without owners")
    report.rows = len(table.rows)
    name = main or "HubSpot deals"
    return Source(histories, len(table.rows), prefix="HS", process_key=slug(f"hubspot {name}"), process_name=name)


def _pipeline(table: Table, row: dict[str, str], columns: list[StageColumn]) -> str | None:
    """The deal's pipeline: its Pipeline column, else the pipeline whose stage columns hold its dates."""
    if row.get("Pipeline"):
        return row["Pipeline"]
    named = [c.pipeline for c in columns if c.pipeline and row.get(c.column)]
    if named:
        return named[0]
    pipelines = {c.pipeline for c in columns}
    return next(iter(pipelines)) if len(pipelines) == 1 else None


def _main_pipeline(pipelines: list[str | None]) -> str | None:
    counts = Counter(pipelines)
    return max(counts, key=lambda p: (counts[p], -pipelines.index(p))) if counts else None


def _history(
    table: Table,
    i: int,
    ref: str,
    columns: list[StageColumn],
    dates: dict[str, DateColumn],
    report: ImportReport,
) -> DealHistory | None:
    row, line = table.rows[i], table.line(i)
    if not ref:
        report.add("missing_id", "row without a Record ID; skipped", row=line)
        return None
    history = DealHistory(ref=ref, title=row.get("Deal Name") or ref, row=line)
    history.owner = first_of(row, OWNER) or None
    if history.owner is None and any(c in table.header for c in OWNER):
        report.add("unknown_owner", "no Deal owner; imported without an owner", row=line, ref=ref)
    company = first_of(row, COMPANY)
    history.account = company.split(";")[0].strip() or None
    raw_amount = first_of(row, AMOUNT)
    history.amount = parse_amount(raw_amount)
    if raw_amount and (history.amount is None or history.amount < 0):
        report.add("bad_amount", f"Amount {raw_amount!r} is not an amount; left out", row=line, ref=ref)
        history.amount = None
    for key, names in DIMENSIONS.items():
        if value := first_of(row, names):
            history.fields[key] = value
    if "Close Date" in dates:
        history.close_date = as_date(dates["Close Date"].parse(row.get("Close Date", "")))
    closed: dict[str, datetime] = {}
    for column in columns:
        raw = row.get(column.column, "")
        moment = dates[column.column].parse(raw)
        if raw and moment is None:
            report.add("bad_date", f"{column.column} {raw!r} is not a date; ignored", row=line, ref=ref)
        elif moment is not None and outcome_of(column.stage) is not None:
            closed[slug(column.stage)] = moment
        elif moment is not None:
            history.entries.append(StageEntry(column.stage, moment))
    history.entries.sort(key=lambda e: e.at)
    return _close(history, row, closed, dates, report)


def _close(
    history: DealHistory,
    row: dict[str, str],
    closed: dict[str, datetime],
    dates: dict[str, DateColumn],
    report: ImportReport,
) -> DealHistory | None:
    """Set the outcome from the current Deal Stage, and place a deal whose current stage has no date."""
    stage, line, ref = row["Deal Stage"].strip(), history.row, history.ref
    outcome = outcome_of(stage)
    if outcome is None:
        for name, at in closed.items():
            report.add(
                "reopened",
                f"entered {name.replace('_', ' ')} on {at.date()} but is now in {stage!r}: imported as open",
                row=line,
                ref=ref,
            )
        if stage and slug(stage) not in {slug(e.stage) for e in history.entries}:
            entered = dates[_CURRENT].parse(row.get(_CURRENT, "")) if _CURRENT in dates else None
            created = dates["Create Date"].parse(row.get("Create Date", "")) if "Create Date" in dates else None
            if entered is not None:
                history.entries.append(StageEntry(stage, entered))
            elif not history.entries and created is not None:
                history.entries.append(StageEntry(stage, created))
                report.add("missing_date", f"no date entered {stage!r}; entered on its Create Date", row=line, ref=ref)
            else:
                report.add(
                    "missing_date",
                    f"Deal Stage is {stage!r} but no date entered it; its history stops at the last dated stage",
                    row=line,
                    ref=ref,
                )
        return history
    moment: datetime | None = closed.get(slug(stage))
    moment = moment or next((m for n, m in closed.items() if outcome_of(n) == outcome), None)
    if moment is None and history.close_date is not None and "Close Date" in dates:
        moment = dates["Close Date"].parse(row.get("Close Date", ""))
        report.add("missing_date", f"{stage} without its Date entered; closed on its Close Date", row=line, ref=ref)
    if moment is None:
        report.add("missing_date", f"{stage} without a date it closed; deal skipped", row=line, ref=ref)
        return None
    history.outcome, history.closed_at = outcome, moment
    history.reason = first_of(row, REASON[outcome]) or None
    return history
