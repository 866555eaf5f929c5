"""Salesforce "Opportunity History" report exports: one row per change of an opportunity's stage,
amount, probability or close date.

Rows are grouped per opportunity (by Opportunity ID, or by name when the report has no ID column)
and read in order of their date (``Last Modified``, or ``Edit Date``). Each row's ``To Stage`` is a
stage the opportunity entered; a row that keeps the stage records an amount or close date edit.
Closed Won and Closed Lost close the deal. Stages are ordered by the probability Salesforce gives
them when the report carries ``Probability (%)``, else by where deals usually meet them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from dealflow.imports.csvfiles import DateColumn, Table, as_date, date_column, first_of, parse_amount, read_table
from dealflow.imports.history import (
    DealHistory,
    ImportReport,
    StageEntry,
    outcome_of,
    stages_by_probability,
)
from dealflow.imports.recording import stage_order
from dealflow.imports.sources import Source

WHAT = "a Salesforce Opportunity History report"
REQUIRED = (
    ("Opportunity Name",),
    ("To Stage", "Stage Name", "StageName"),
    ("Last Modified", "Edit Date", "Last Modified Date", "CreatedDate"),
)
ID = ("Opportunity ID", "Opportunity Id", "Opportunity: Opportunity ID", "OpportunityId")
OWNER = ("Opportunity Owner", "Owner Name", "Opportunity Owner: Full Name")
REASON = ("Loss Reason", "Closed Lost Reason", "Lost Reason", "Reason Lost")
PROBABILITY = ("Probability (%)", "Probability")
DIMENSIONS = {
    "source": ("Lead Source", "Opportunity Source", "Source"),
    "segment": ("Segment", "Market Segment"),
    "product": ("Product Family", "Product Name", "Product"),
}


def read_salesforce(path: Path, *, report: ImportReport, date_format: str | None = None) -> Source:
    """Deal histories from a Salesforce Opportunity History report (CSV)."""
    table = read_table(path)
    name_column, stage_column, date_name = table.require_one_of(REQUIRED, what=WHAT)
    when = date_column(table, date_name, forced=date_format)
    dates: dict[str, DateColumn] = {
        c: date_column(table, c, forced=date_format) for c in ("Close Date", "Created Date") if c in table.header
    }
    id_column = next((c for c in ID if c in table.header), None)
    if id_column is None:
        report.add("no_id", f"{table.name} has no Opportunity ID column: opportunities are told apart by name")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(table.rows):
        ref = (row.get(id_column, "") if id_column else "") or row[name_column]
        if not ref:
            report.add("missing_id", "row without an Opportunity ID or Name; skipped", row=table.line(i))
            continue
        groups[ref].append(i)
    reader = _Reader(table, stage_column, when, dates, report)
    histories = [h for ref, rows in groups.items() if (h := reader.history(ref, rows)) is not None]
    if not any(c in table.header for c in OWNER):
        report.add("unknown_owner", f"{table.name} has no Opportunity Owner column: deals are imported without owners")
    report.rows = len(table.rows)
    order = stages_by_probability(_probabilities(table, stage_column), stage_order(histories))
    return Source(
        histories,
        len(table.rows),
        prefix="SF",
        process_key="salesforce_opportunities",
        process_name="Salesforce opportunities",
        stages=order or None,
    )


def _probabilities(table: Table, stage_column: str) -> dict[str, list[float]]:
    found: dict[str, list[float]] = defaultdict(list)
    for row in table.rows:
        value = parse_amount(first_of(row, PROBABILITY).rstrip("%"))
        if value is not None and outcome_of(row[stage_column]) is None:
            found[row[stage_column]].append(float(value))
    return found


class _Reader:
    """Turns the rows of one opportunity into its history, reporting what it cannot take."""

    def __init__(
        self, table: Table, stage_column: str, when: DateColumn, dates: dict[str, DateColumn], report: ImportReport
    ) -> None:
        self.table, self.stage_column, self.when, self.dates, self.report = table, stage_column, when, dates, report

    def _dated(self, ref: str, indexes: list[int]) -> list[tuple[datetime, int]]:
        """The rows with a readable date, oldest first (a report sorted newest first is read backwards)."""
        dated, seen = [], set()
        for i in indexes:
            row, line = self.table.rows[i], self.table.line(i)
            key = tuple(row.values())
            if key in seen:
                self.report.add(
                    "duplicate", "the same history row appears twice; the copy is ignored", row=line, ref=ref
                )
                continue
            seen.add(key)
            moment = self.when.parse(row[self.when.column])
            if moment is None:
                raw = row[self.when.column]
                what = f"{self.when.column} {raw!r} is not a date" if raw else f"no {self.when.column}"
                self.report.add("bad_date", f"{what}; row skipped", row=line, ref=ref)
                continue
            dated.append((moment, i))
        moments = [m for m, _ in dated]
        if len(set(moments)) > 1 and all(a >= b for a, b in pairwise(moments)):
            dated.reverse()
        return sorted(dated, key=lambda pair: pair[0])

    def history(self, ref: str, indexes: list[int]) -> DealHistory | None:
        """The opportunity's history, or None when none of its rows can be read."""
        dated = self._dated(ref, indexes)
        if not dated:
            return None
        table, report = self.table, self.report
        first = table.rows[dated[0][1]]
        history = DealHistory(ref=ref, title=first["Opportunity Name"] or ref, row=table.line(dated[0][1]))
        self._starting_stage(history, first)
        for moment, i in dated:
            row = table.rows[i]
            amount = self._amount(row, table.line(i), ref)
            self._describe(history, row)
            stage = row[self.stage_column]
            outcome = outcome_of(stage)
            if outcome is not None:
                if history.outcome != outcome:
                    history.outcome, history.closed_at = outcome, moment
                history.closing_amount = amount if amount is not None else history.closing_amount
                history.reason = first_of(row, REASON) or history.reason
            elif not stage:
                report.add("missing_stage", "row without a To Stage; skipped", row=table.line(i), ref=ref)
            else:
                if history.outcome is not None:
                    report.add(
                        "reopened",
                        f"closed {history.outcome} on {history.closed_at:%Y-%m-%d} then moved to {stage!r}: imported "
                        "as reopened",
                        row=table.line(i),
                        ref=ref,
                    )
                    history.outcome = history.closed_at = history.closing_amount = history.reason = None
                history.entries.append(StageEntry(stage, moment, amount))
        if history.entries and history.entries[0].amount is not None:
            history.amount = history.entries[0].amount
        if not history.owner and any(c in table.header for c in OWNER):
            report.add("unknown_owner", "no Opportunity Owner; imported without an owner", row=history.row, ref=ref)
        return history

    def _starting_stage(self, history: DealHistory, first: dict[str, str]) -> None:
        """A report that starts after the opportunity was created begins with a move out of ``From Stage``:
        the opportunity entered that stage when it was created."""
        start = first.get("From Stage", "")
        if not start or start == first[self.stage_column] or outcome_of(start) is not None:
            return
        created = (
            self.dates["Created Date"].parse(first.get("Created Date", "")) if "Created Date" in self.dates else None
        )
        if created is None:
            self.report.add(
                "missing_date",
                f"its history starts with a move out of {start!r}, with no Created Date: the time in {start!r} is "
                "not counted",
                row=history.row,
                ref=history.ref,
            )
            return
        history.entries.append(StageEntry(start, created))

    def _amount(self, row: dict[str, str], line: int, ref: str) -> Decimal | None:
        raw = row.get("Amount", "")
        amount = parse_amount(raw)
        if raw and (amount is None or amount < 0):
            self.report.add("bad_amount", f"Amount {raw!r} is not an amount; ignored", row=line, ref=ref)
            return None
        return amount

    def _describe(self, history: DealHistory, row: dict[str, str]) -> None:
        """Owner, account, close date and dimensions: the latest row that names them wins."""
        history.owner = first_of(row, OWNER) or history.owner
        history.account = row.get("Account Name") or history.account
        if "Close Date" in self.dates and row.get("Close Date"):
            history.close_date = as_date(self.dates["Close Date"].parse(row["Close Date"])) or history.close_date
        for key, names in DIMENSIONS.items():
            if value := first_of(row, names):
                history.fields[key] = value
