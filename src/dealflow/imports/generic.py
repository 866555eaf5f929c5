"""The generic event-log CSV: one row each time a deal entered a stage.

Columns: ``deal_id``, ``stage``, ``timestamp`` (required); ``owner``, ``amount``, ``title``,
``account``, ``team``, ``source``, ``segment``, ``product``, ``reason``, ``close_date``
(optional). A row whose stage is an outcome (``Won``, ``Closed Lost``...) closes the deal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from dealflow.imports.csvfiles import DateColumn, Table, as_date, date_column, parse_amount, read_table
from dealflow.imports.history import DealHistory, ImportReport, StageEntry, outcome_of
from dealflow.imports.sources import Source

REQUIRED = ("deal_id", "stage", "timestamp")
DIMENSIONS = ("source", "segment", "product")


def read_event_log(path: Path, *, report: ImportReport, date_format: str | None = None) -> Source:
    """Deal histories from an event-log CSV."""
    table = read_table(path)
    return histories_from_event_log(table, report=report, date_format=date_format)


def histories_from_event_log(table: Table, *, report: ImportReport, date_format: str | None = None) -> Source:
    """Deal histories from the rows of an event-log table (see the module docstring)."""
    table.require(REQUIRED, what="an event log (one row per stage entry)")
    when = date_column(table, "timestamp", forced=date_format)
    close: DateColumn | None = (
        date_column(table, "close_date", forced=date_format) if "close_date" in table.header else None
    )
    columns = Columns(table.header)
    records = _padded(table.records, len(table.header))
    rows_of: dict[str, list[int]] = defaultdict(list)
    ref_at = columns.deal_id
    for i, values in enumerate(records):
        ref = values[ref_at]
        if not ref:
            report.add("missing_id", "row without a deal_id; skipped", row=table.line(i))
            continue
        rows_of[ref].append(i)
    histories = []
    for ref, indexes in rows_of.items():
        histories.append(history_from_rows(table, records, columns, ref, indexes, when, close, report))
    report.rows = len(table.records)
    return Source(histories, len(table.records), prefix="EV", process_key="imported", process_name="Imported pipeline")


def _padded(records: list[list[str]], width: int) -> list[list[str]]:
    """The records with short rows filled up with empty values, so every column can be indexed."""
    if all(len(values) == width for values in records):
        return records
    return [values + [""] * (width - len(values)) for values in records]


class Columns:
    """Where each column of the event log sits in a row (optional columns the file lacks are left out)."""

    def __init__(self, header: list[str]) -> None:
        at = {name: i for i, name in enumerate(header)}
        self.deal_id, self.stage, self.timestamp = at["deal_id"], at["stage"], at["timestamp"]
        self.amount, self.reason, self.close_date = at.get("amount"), at.get("reason"), at.get("close_date")
        self.title = at.get("title")
        # Taken from every row that names them: the latest one wins.
        self.described = [(key, at[key]) for key in ("owner", "team", "account", "title") if key in at]
        self.dimensions = [(key, at[key]) for key in DIMENSIONS if key in at]


def history_from_rows(
    table: Table,
    records: Sequence[list[str]] | Mapping[int, list[str]],
    columns: Columns,
    ref: str,
    indexes: list[int],
    when: DateColumn,
    close: DateColumn | None,
    report: ImportReport,
) -> DealHistory:
    """The history of deal ``ref`` told by its rows ``indexes`` of ``records``, reporting what cannot
    be taken as it is."""
    first = records[indexes[0]]
    title = (first[columns.title] if columns.title is not None else "") or ref
    history = DealHistory(ref=ref, title=title, row=table.line(indexes[0]))
    entries = history.entries
    for i in indexes:
        row = records[i]
        moment = when.moment(i, row[columns.timestamp])
        if moment is None:
            report.add(
                "bad_date",
                f"timestamp {row[columns.timestamp]!r} is missing or impossible; row skipped",
                row=table.line(i),
                ref=ref,
            )
            continue
        raw_amount = row[columns.amount] if columns.amount is not None else ""
        amount = _amount(raw_amount, table.line(i), ref, report) if raw_amount else None
        for key, at in columns.described:
            if value := row[at]:
                setattr(history, key, value)
        for name, at in columns.dimensions:
            if value := row[at]:
                history.fields[name] = value
        if close is not None and columns.close_date is not None and (closing := row[columns.close_date]):
            history.close_date = as_date(close.moment(i, closing))
        stage = row[columns.stage]
        outcome = outcome_of(stage)
        if outcome is not None:
            history.outcome, history.closed_at = outcome, moment
            history.reason = (row[columns.reason] if columns.reason is not None else "") or None
            if amount is not None:
                history.closing_amount = amount
            continue
        if not stage:
            report.add("missing_stage", "row without a stage; skipped", row=table.line(i), ref=ref)
            continue
        entries.append(StageEntry(stage, moment, amount))
    entries.sort(key=_entered_at)
    if entries and entries[0].amount is not None:
        history.amount = entries[0].amount
    return history


def _entered_at(entry: StageEntry) -> datetime:
    return entry.at


def _amount(raw: str, line: int, ref: str, report: ImportReport) -> Decimal | None:
    """The row's amount; a value that is not a number, or is negative, is reported and ignored."""
    amount = parse_amount(raw)
    if amount is None:
        report.add("bad_amount", f"amount {raw!r} is not a number; ignored", row=line, ref=ref)
    elif amount < 0:
        report.add("bad_amount", f"amount {amount} is negative; ignored", row=line, ref=ref)
        return None
    return amount
