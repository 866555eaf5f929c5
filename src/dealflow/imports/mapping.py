"""Any other CSV, described by a column-mapping file (YAML) given with ``--mapping``.

The mapping names the file's layout (``events``: one row each time a deal entered a stage;
``snapshot``: one row per deal with a date column per stage), the column holding each field dealflow
reads, the working stages in order, and the stage names that mean won, lost or disqualified::

    layout: events
    columns: {deal_id: Ref, stage: Phase, timestamp: Changed on, owner: Rep, amount: Value}
    stages: [Lead, Demo, Proposal]
    outcomes: {Signed: won, Dead: lost}

A mapping that names a column the file lacks is refused with the mapping file's line.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from dealflow.errors import InvalidInput
from dealflow.imports.csvfiles import Table, as_date, date_column, parse_amount, read_table
from dealflow.imports.history import DealHistory, ImportReport, Outcome, StageEntry, outcome_of, slug
from dealflow.imports.sources import Source
from dealflow.process.yaml_tree import Location, dotted, key_lines, plain

MAX_MAPPING_BYTES = 100_000
DESCRIPTIVE = ("title", "owner", "team", "account")
DIMENSIONS = ("source", "segment", "product")


class MappedColumns(BaseModel):
    """The file's column for each field dealflow reads (only ``deal_id`` is always required)."""

    model_config = ConfigDict(extra="forbid")

    deal_id: str
    stage: str | None = None
    timestamp: str | None = None
    owner: str | None = None
    amount: str | None = None
    title: str | None = None
    account: str | None = None
    team: str | None = None
    source: str | None = None
    segment: str | None = None
    product: str | None = None
    reason: str | None = None
    close_date: str | None = None
    stage_dates: dict[str, str] = Field(default_factory=dict)


class ColumnMapping(BaseModel):
    """A validated mapping file."""

    model_config = ConfigDict(extra="forbid")

    layout: Literal["events", "snapshot"]
    columns: MappedColumns
    stages: list[str] | None = None
    outcomes: dict[str, Outcome] = Field(default_factory=dict)
    date_format: str | None = None
    process: str | None = None
    process_name: str | None = None
    prefix: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9]{0,9}$")

    def resolve(self, value: str) -> tuple[Outcome | None, str]:
        """What a stage name in the file means: an outcome, or a working stage (spelled as ``stages`` does)."""
        outcomes = {slug(name): outcome for name, outcome in self.outcomes.items()}
        if slug(value) in outcomes:
            return outcomes[slug(value)], value
        declared = {slug(name): name for name in self.stages or []}
        if slug(value) in declared:
            return None, declared[slug(value)]
        return outcome_of(value), value


def _refuse(name: str, problems: list[tuple[Location, str]], lines: dict[Location, int]) -> InvalidInput:
    def line(path: Location) -> int:
        return next((lines[path[:cut]] for cut in range(len(path), 0, -1) if path[:cut] in lines), 1)

    rendered = [f"{name}:{line(p)}: {dotted(p)}: {m}" for p, m in sorted(problems, key=lambda pm: line(pm[0]))]
    if len(rendered) == 1:
        return InvalidInput(rendered[0])
    return InvalidInput(f"{name} has {len(rendered)} problems:\n  " + "\n  ".join(rendered))


def _pydantic_problems(exc: ValidationError) -> list[tuple[Location, str]]:
    found = []
    for error in exc.errors():
        loc: Location = tuple(error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            known = ", ".join(MappedColumns.model_fields if loc[:1] == ("columns",) else ColumnMapping.model_fields)
            message = f"unknown setting '{loc[-1]}' (settings: {known})"
        elif error["type"] == "missing":
            message = f"'{loc[-1]}' is required"
        elif error["type"] == "string_pattern_mismatch" and loc == ("prefix",):
            message = "a prefix is 1 to 10 letters or digits, starting with a letter"
        found.append((loc, message))
    return found


def _checks(mapping: ColumnMapping, table: Table) -> Iterator[tuple[Location, str]]:
    """What the structure allows but the layout or the data file does not."""
    columns = mapping.columns
    needed = ("stage", "timestamp") if mapping.layout == "events" else ()
    for name in needed:
        if getattr(columns, name) is None:
            yield ("columns",), f"'{name}' is required for layout: events"
    if mapping.layout == "snapshot" and not columns.stage_dates:
        yield ("columns",), "'stage_dates' is required for layout: snapshot (the date column of each stage)"
    if mapping.layout == "events" and columns.stage_dates:
        yield ("columns", "stage_dates"), "stage_dates is for layout: snapshot; an event log has a timestamp column"
    listed = ", ".join(table.header[:12]) + (", ..." if len(table.header) > 12 else "")
    named: list[tuple[Location, str]] = [
        (("columns", field), column)
        for field, column in columns.model_dump(exclude={"stage_dates"}).items()
        if column is not None
    ]
    named += [(("columns", "stage_dates", stage), column) for stage, column in columns.stage_dates.items()]
    for path, column in named:
        if column not in table.header:
            yield path, f"column {column!r} is not in {table.name} (columns: {listed})"
    stages = mapping.stages or []
    repeated = sorted({s for s in stages if [slug(x) for x in stages].count(slug(s)) > 1})
    if repeated:
        yield ("stages",), f"stages listed twice: {', '.join(repeated)}"
    for name in mapping.outcomes:
        if slug(name) in {slug(s) for s in stages}:
            yield ("outcomes", name), f"{name!r} is both a working stage and an outcome"
    for name in columns.stage_dates if stages else ():
        outcome, stage = mapping.resolve(name)
        if outcome is None and stage not in stages:
            yield (
                ("columns", "stage_dates", name),
                f"{name!r} is not one of the stages ({', '.join(stages)}) nor an outcome",
            )
    if mapping.date_format is not None and "%" not in mapping.date_format:
        yield ("date_format",), f"{mapping.date_format!r} is not a strptime pattern (such as %d/%m/%Y)"


def load_mapping(path: Path, table: Table) -> ColumnMapping:
    """Read and validate a mapping file against the data file it describes; errors name file and line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="--mapping") from None
    if len(raw) > MAX_MAPPING_BYTES:
        raise InvalidInput(f"{path.name} is larger than {MAX_MAPPING_BYTES:,} bytes", field="--mapping")
    try:
        tree = YAML(typ="rt").load(io.StringIO(raw.decode("utf-8")))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name}: not UTF-8 text (byte {exc.start})", field="--mapping") from None
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        hint = ' (quote a value that starts with %, such as date_format: "%d/%m/%Y")' if "'%'" in str(exc) else ""
        raise InvalidInput(f"{path.name}:{line}: malformed YAML: {exc.problem}{hint}") from None
    except YAMLError as exc:
        raise InvalidInput(f"{path.name}:1: malformed YAML: {exc}") from None
    if not isinstance(tree, CommentedMap):
        raise InvalidInput(f"{path.name}:1: a mapping file is a mapping of settings (layout, columns, ...)")
    lines = dict(key_lines(tree))
    try:
        mapping = ColumnMapping.model_validate(plain(tree))
    except ValidationError as exc:
        raise _refuse(path.name, _pydantic_problems(exc), lines) from None
    problems = list(_checks(mapping, table))
    if problems:
        raise _refuse(path.name, problems, lines)
    return mapping


def read_mapped(
    path: Path, *, report: ImportReport, date_format: str | None = None, mapping: Path | None = None
) -> Source:
    """Deal histories from any CSV read through a column-mapping file."""
    if mapping is None:
        raise InvalidInput("--format mapping needs --mapping FILE.yaml (the columns of the file)", field="--mapping")
    table = read_table(path)
    spec = load_mapping(mapping, table)
    reader = _Reader(table, spec, report, date_format or spec.date_format)
    histories = reader.events() if spec.layout == "events" else reader.snapshots()
    report.rows = len(table.rows)
    key = slug(spec.process or mapping.stem)
    return Source(
        histories,
        len(table.rows),
        prefix=spec.prefix or "MAP",
        process_key=key,
        process_name=spec.process_name or spec.process or mapping.stem.replace("_", " ").capitalize(),
        stages=spec.stages or [s for s in spec.columns.stage_dates if spec.resolve(s)[0] is None] or None,
    )


class _Reader:
    """Reads the rows of a mapped file into deal histories, reporting what it cannot take."""

    def __init__(self, table: Table, spec: ColumnMapping, report: ImportReport, date_format: str | None) -> None:
        self.table, self.spec, self.report, self.columns = table, spec, report, spec.columns
        names = [self.columns.timestamp, self.columns.close_date, *self.columns.stage_dates.values()]
        self.dates = {c: date_column(table, c, forced=date_format) for c in names if c}

    def value(self, row: dict[str, str], field: str) -> str:
        """The row's value for a canonical field, or '' when the mapping leaves the field out."""
        column = getattr(self.columns, field)
        return row.get(column, "") if column else ""

    def _date(self, row: dict[str, str], column: str, line: int, ref: str, *, instead: str) -> datetime | None:
        """The moment in ``column`` (None when empty, or reported when it is not a date)."""
        raw = row.get(column, "")
        moment = self.dates[column].parse(raw)
        if raw and moment is None:
            self.report.add("bad_date", f"{column} {raw!r} is not a date; {instead}", row=line, ref=ref)
        return moment

    def _grouped(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, row in enumerate(self.table.rows):
            ref = self.value(row, "deal_id")
            if not ref:
                self.report.add("missing_id", f"row without a {self.columns.deal_id}; skipped", row=self.table.line(i))
                continue
            groups[ref].append(i)
        return groups

    def _describe(self, history: DealHistory, row: dict[str, str], line: int) -> DealHistory:
        """Title, owner, team, account, dimensions and close date: the latest row naming them wins."""
        for key in DESCRIPTIVE:
            if value := self.value(row, key):
                setattr(history, key, value)
        for key in DIMENSIONS:
            if value := self.value(row, key):
                history.fields[key] = value
        if self.columns.close_date and row.get(self.columns.close_date):
            moment = self._date(row, self.columns.close_date, line, history.ref, instead="left out")
            history.close_date = as_date(moment) or history.close_date
        return history

    def _amount(self, row: dict[str, str], line: int, ref: str) -> Decimal | None:
        raw = self.value(row, "amount")
        amount = parse_amount(raw)
        if raw and (amount is None or amount < 0):
            self.report.add("bad_amount", f"{self.columns.amount} {raw!r} is not an amount; ignored", row=line, ref=ref)
            return None
        return amount

    def _owned(self, history: DealHistory) -> DealHistory:
        if self.columns.owner and not history.owner:
            self.report.add(
                "unknown_owner", f"no {self.columns.owner}; imported without an owner", row=history.row, ref=history.ref
            )
        return history

    def events(self) -> list[DealHistory]:
        """One history per deal from an event log: each row is a stage the deal entered."""
        assert self.columns.timestamp is not None
        histories = []
        for ref, indexes in self._grouped().items():
            history = DealHistory(ref=ref, title=ref, row=self.table.line(indexes[0]))
            seen: set[tuple[str, ...]] = set()
            dated: list[tuple[datetime, int]] = []
            for i in indexes:
                row, line = self.table.rows[i], self.table.line(i)
                key = tuple(row.get(c, "") for c in self.columns.model_dump(exclude={"stage_dates"}).values() if c)
                if key in seen:
                    self.report.add("duplicate", "the same row appears twice; the copy is ignored", row=line, ref=ref)
                    continue
                seen.add(key)
                moment = self._date(row, self.columns.timestamp, line, ref, instead="row skipped")
                if moment is None:
                    if not row.get(self.columns.timestamp):
                        self.report.add("missing_date", f"no {self.columns.timestamp}; row skipped", row=line, ref=ref)
                    continue
                dated.append((moment, i))
            for moment, i in sorted(dated, key=lambda pair: pair[0]):
                self._event(history, moment, i)
            if history.entries and history.entries[0].amount is not None:
                history.amount = history.entries[0].amount
            histories.append(self._owned(history))
        return histories

    def _event(self, history: DealHistory, moment: datetime, i: int) -> None:
        row, line = self.table.rows[i], self.table.line(i)
        self._describe(history, row, line)
        amount = self._amount(row, line, history.ref)
        raw = self.value(row, "stage")
        outcome, stage = self.spec.resolve(raw)
        if outcome is not None:
            history.outcome, history.closed_at = outcome, moment
            history.reason = self.value(row, "reason") or history.reason
            history.closing_amount = amount if amount is not None else history.closing_amount
        elif not raw:
            self.report.add("missing_stage", f"no {self.columns.stage}; row skipped", row=line, ref=history.ref)
        else:
            history.entries.append(StageEntry(stage, moment, amount))

    def snapshots(self) -> list[DealHistory]:
        """One history per row of a snapshot: the stages with a date, and the outcome."""
        histories = []
        for i, row in enumerate(self.table.rows):
            line, ref = self.table.line(i), self.value(row, "deal_id")
            if not ref:
                self.report.add("missing_id", f"row without a {self.columns.deal_id}; skipped", row=line)
                continue
            history = self._describe(DealHistory(ref=ref, title=ref, row=line), row, line)
            history.amount = self._amount(row, line, ref)
            closed: dict[Outcome, datetime] = {}
            for name, column in self.columns.stage_dates.items():
                moment = self._date(row, column, line, ref, instead=f"{name!r} left out")
                outcome, stage = self.spec.resolve(name)
                if moment is not None and outcome is not None:
                    closed[outcome] = moment
                elif moment is not None:
                    history.entries.append(StageEntry(stage, moment))
            history.entries.sort(key=lambda e: e.at)
            if self._close(history, row, closed):
                histories.append(self._owned(history))
        return histories

    def _close(self, history: DealHistory, row: dict[str, str], closed: dict[Outcome, datetime]) -> bool:
        """Set the outcome (the current stage's, or the latest dated outcome); False when it has no date."""
        current = self.value(row, "stage")
        outcome, stage = self.spec.resolve(current) if current else (None, "")
        if not current and closed:
            outcome = max(closed.items(), key=lambda pair: pair[1])[0]
        if outcome is None:
            if stage and stage not in {e.stage for e in history.entries}:
                self.report.add(
                    "missing_date",
                    f"current stage {stage!r} has no date; its history stops at the last dated stage",
                    row=history.row,
                    ref=history.ref,
                )
            return True
        moment = closed.get(outcome)
        if moment is None and self.columns.close_date:
            moment = self._date(row, self.columns.close_date, history.row, history.ref, instead="not a closing date")
        if moment is None:
            self.report.add(
                "missing_date",
                f"{current or outcome} without a date it closed; deal skipped",
                row=history.row,
                ref=history.ref,
            )
            return False
        history.outcome, history.closed_at = outcome, moment
        history.reason = self.value(row, "reason") or None
        return True
