"""Pipedrive deal exports: one row per deal with its current stage and status (open, won, lost).

An export is a snapshot: it holds each deal's current stage, not the stages before it. A deal enters
its current stage at ``Deal - Last stage change`` (empty when it never moved: then at ``Deal -
Deal created``), and closes at ``Deal - Won time`` or ``Deal - Lost time``. Without the last stage
change column every deal enters its stage when it was created, and the report says so. An export that
mixes pipelines is read for the pipeline holding the most deals; the others are listed in the report.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from dealflow.imports.csvfiles import DateColumn, Table, as_date, date_column, first_of, parse_amount, read_table
from dealflow.imports.history import DealHistory, ImportReport, Outcome, StageEntry, slug, stages_by_probability
from dealflow.imports.recording import stage_order
from dealflow.imports.sources import Source

WHAT = "a Pipedrive deals export"
REQUIRED = (
    ("Deal - ID",),
    ("Deal - Title",),
    ("Deal - Stage", "Deal - Stage (pipeline)"),
    ("Deal - Status",),
    ("Deal - Deal created", "Deal - Add time", "Deal - Creation date"),
)
STAGE_CHANGE = ("Deal - Last stage change", "Deal - Stage change time")
CLOSED = ("Deal - Deal closed on", "Deal - Closed on", "Deal - Close time")
WHEN_CLOSED: dict[Outcome, str] = {"won": "Deal - Won time", "lost": "Deal - Lost time"}
CURRENCY = ("Deal - Currency", "Deal - Currency of Value")
DIMENSIONS = {
    "source": (
        "Deal - Source origin",
        "Deal - Source channel",
        "Deal - Deal source",
        "Deal - Lead Source",
        "Deal - Source",
    ),
    "segment": ("Deal - Segment",),
    "product": ("Deal - Product name", "Deal - Product"),
}
STATUSES: dict[str, Outcome | None] = {"open": None, "won": "won", "lost": "lost"}


def read_pipedrive(path: Path, *, report: ImportReport, date_format: str | None = None) -> Source:
    """Deal histories from a Pipedrive deals export (CSV)."""
    table = read_table(path)
    columns = table.require_one_of(REQUIRED, what=WHAT)
    id_column, stage_column, created_column = columns[0], columns[2], columns[4]
    change_column = next((c for c in STAGE_CHANGE if c in table.header), None)
    dated = [created_column, change_column, "Deal - Expected close date", *CLOSED, *WHEN_CLOSED.values()]
    dates = {c: date_column(table, c, forced=date_format) for c in dated if c and c in table.header}
    pipelines = [row.get("Deal - Pipeline", "") for row in table.rows]
    counts = Counter(pipelines)
    main = max(counts, key=lambda p: (counts[p], -pipelines.index(p))) if counts else ""
    reader = _Reader(table, stage_column, created_column, change_column, dates, report)
    histories = []
    for i, row in enumerate(table.rows):
        if pipelines[i] != main:
            continue
        history = reader.history(i, row[id_column])
        if history is not None:
            histories.append(history)
    for pipeline, n in counts.items():
        if pipeline != main:
            report.add(
                "other_pipeline",
                f"{n} deal{'s' if n > 1 else ''} of pipeline {pipeline!r} left out: this import reads {main!r}, the "
                "pipeline with the most deals (export the other pipeline on its own to import it)",
            )
    reader.summarise(len(histories))
    if "Deal - Owner" not in table.header:
        report.add("unknown_owner", f"{table.name} has no Deal - Owner column: deals are imported without owners")
    report.rows = len(table.rows)
    name = main or "Pipedrive deals"
    probabilities = _probabilities(table, stage_column, pipelines, main)
    return Source(
        histories,
        len(table.rows),
        prefix="PD",
        process_key=slug(f"pipedrive {name}"),
        process_name=name,
        stages=stages_by_probability(probabilities, stage_order(histories)) or None,
    )


def _probabilities(table: Table, stage_column: str, pipelines: list[str], main: str) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for row, pipeline in zip(table.rows, pipelines, strict=True):
        value = parse_amount(row.get("Deal - Probability", "").rstrip("%"))
        if pipeline == main and value is not None and row["Deal - Status"].lower() == "open":
            found.setdefault(row[stage_column], []).append(float(value))
    return found


class _Reader:
    """Turns one row into a deal history, counting what the summary reports."""

    def __init__(
        self,
        table: Table,
        stage_column: str,
        created_column: str,
        change_column: str | None,
        dates: dict[str, DateColumn],
        report: ImportReport,
    ) -> None:
        self.table, self.stage_column, self.report, self.dates = table, stage_column, report, dates
        self.created_column, self.change_column = created_column, change_column
        self.moved: set[str] = set()
        self.currency: dict[str, str] = {}

    def _date(
        self, row: dict[str, str], column: str | None, line: int, ref: str, *, instead: str = "left out"
    ) -> datetime | None:
        if column is None or column not in self.dates or not row.get(column):
            return None
        moment = self.dates[column].parse(row[column])
        if moment is None:
            self.report.add("bad_date", f"{column} {row[column]!r} is not a date; {instead}", row=line, ref=ref)
        return moment

    def history(self, i: int, ref: str) -> DealHistory | None:
        """The deal's history, or None (reported) when the row cannot be told as one."""
        row, line, report = self.table.rows[i], self.table.line(i), self.report
        if not ref:
            report.add("missing_id", "row without a Deal - ID; skipped", row=line)
            return None
        status = row["Deal - Status"].strip().lower()
        if status not in STATUSES:
            report.add(
                "unknown_status",
                f"status {row['Deal - Status']!r} is not open, won or lost; skipped",
                row=line,
                ref=ref,
            )
            return None
        history = DealHistory(ref=ref, title=row["Deal - Title"] or ref, row=line)
        history.owner = row.get("Deal - Owner") or None
        if history.owner is None and "Deal - Owner" in self.table.header:
            report.add("unknown_owner", "no Deal - Owner; imported without an owner", row=line, ref=ref)
        history.account = row.get("Deal - Organization") or None
        raw = row.get("Deal - Value", "")
        history.amount = parse_amount(raw)
        if raw and (history.amount is None or history.amount < 0):
            report.add("bad_amount", f"Deal - Value {raw!r} is not an amount; left out", row=line, ref=ref)
            history.amount = None
        if history.amount is not None:
            self.currency[ref] = first_of(row, CURRENCY) or "?"
        for key, names in DIMENSIONS.items():
            if value := first_of(row, names):
                history.fields[key] = value
        history.close_date = as_date(self._date(row, "Deal - Expected close date", line, ref))
        created = self._date(row, self.created_column, line, ref)
        changed = self._date(row, self.change_column, line, ref, instead="entered its stage when it was created")
        entered = changed or created
        if entered is None:
            report.add("missing_date", f"no {self.created_column} date; deal skipped", row=line, ref=ref)
            return None
        if changed is not None and created is not None and changed > created:
            self.moved.add(ref)
        history.entries.append(StageEntry(row[self.stage_column], entered))
        outcome = STATUSES[status]
        if outcome is None:
            return history
        closed = self._date(row, WHEN_CLOSED[outcome], line, ref) or next(
            (m for c in CLOSED if (m := self._date(row, c, line, ref)) is not None), None
        )
        if closed is None:
            report.add("missing_date", f"{status} without a {WHEN_CLOSED[outcome]}; deal skipped", row=line, ref=ref)
            return None
        history.outcome, history.closed_at, history.close_date = outcome, closed, closed.date()
        history.reason = (row.get("Deal - Lost reason") if outcome == "lost" else None) or None
        return history

    def summarise(self, deals: int) -> None:
        """The issues that concern many deals at once, one line each."""
        if self.change_column is None and deals:
            self.report.add(
                "missing_date",
                f"the export has no 'Deal - Last stage change' column: all {deals} deals enter their current stage "
                "on the date they were created (add that column to the export for the real dates)",
            )
        if self.moved:
            self.report.add(
                "snapshot",
                f"{len(self.moved)} deals moved after they were created: the export holds only their current stage, "
                "entered at 'Deal - Last stage change'; the stages before it are not in the file",
            )
        currencies = Counter(self.currency.values())
        if len(currencies) > 1:
            listed = ", ".join(f"{c} ({n} deal{'s' if n > 1 else ''})" for c, n in currencies.most_common())
            self.report.add("mixed_currency", f"amounts are in {listed}: imported as written, not converted")
