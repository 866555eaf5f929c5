"""The generic event-log CSV: one row each time a deal entered a stage.

Columns: ``deal_id``, ``stage``, ``timestamp`` (required); ``owner``, ``amount``, ``title``,
``account``, ``team``, ``source``, ``segment``, ``product``, ``reason``, ``close_date``
(optional). A row whose stage is an outcome (``Won``, ``Closed Lost``...) closes the deal.
"""

from __future__ import annotations

from collections import defaultdict
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
    rows_of: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(table.rows):
        ref = row["deal_id"]
        if not ref:
            report.add("missing_id", "row without a deal_id; skipped", row=table.line(i))
            continue
        rows_of[ref].append(i)
    histories = []
    for ref, indexes in rows_of.items():
        history = _history(table, ref, indexes, when, close, report)
        if history is not None:
            histories.append(history)
    report.rows = len(table.rows)
    return Source(histories, len(table.rows), prefix="EV", process_key="imported", process_name="Imported pipeline")


def _history(
    table: Table, ref: str, indexes: list[int], when: DateColumn, close: DateColumn | None, report: ImportReport
) -> DealHistory | None:
    first = table.rows[indexes[0]]
    history = DealHistory(ref=ref, title=first.get("title") or ref, row=table.line(indexes[0]))
    for i in indexes:
        row = table.rows[i]
        moment = when.parse(row["timestamp"])
        if moment is None:
            report.add(
                "bad_date",
                f"timestamp {row['timestamp']!r} is missing or impossible; row skipped",
                row=table.line(i),
                ref=ref,
            )
            continue
        amount = parse_amount(row.get("amount", ""))
        if row.get("amount") and amount is None:
            report.add("bad_amount", f"amount {row['amount']!r} is not a number; ignored", row=table.line(i), ref=ref)
        if amount is not None and amount < 0:
            report.add("bad_amount", f"amount {amount} is negative; ignored", row=table.line(i), ref=ref)
            amount = None
        for key in ("owner", "team", "account", "title"):
            if row.get(key):
                setattr(history, key, row[key])
        for key in DIMENSIONS:
            if row.get(key):
                history.fields[key] = row[key]
        if close is not None and row.get("close_date"):
            history.close_date = as_date(close.parse(row["close_date"]))
        outcome = outcome_of(row["stage"])
        if outcome is not None:
            history.outcome, history.closed_at = outcome, moment
            history.reason = row.get("reason") or None
            if amount is not None:
                history.closing_amount = amount
            continue
        if not row["stage"]:
            report.add("missing_stage", "row without a stage; skipped", row=table.line(i), ref=ref)
            continue
        history.entries.append(StageEntry(row["stage"], moment, amount))
    history.entries.sort(key=lambda e: e.at)
    if history.entries and history.entries[0].amount is not None:
        history.amount = history.entries[0].amount
    return history
