"""Reading export files safely: size and encoding checks, the columns an adapter needs, and dates
in whichever one format a column uses (a column that mixes formats is refused, not guessed)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from pathlib import Path

from dealflow.errors import InvalidInput

MAX_BYTES = 1 << 30  # 1 GiB
# strptime patterns tried after ISO 8601, in this order of preference.
DATE_FORMATS = (
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%Y/%m/%d",
    "%m/%d/%y",
    "%d/%m/%y",
)
ISO = "ISO 8601"


@dataclass
class Table:
    """The rows of a CSV file, as lists of values in header order (``records``) or as dictionaries
    keyed by the header (``rows``), with their line numbers. A row may hold fewer values than the
    header has columns."""

    name: str
    header: list[str]
    records: list[list[str]]

    @cached_property
    def rows(self) -> list[dict[str, str]]:
        """Each row as a dictionary of the columns it has a value for."""
        header = self.header
        return [dict(zip(header, values, strict=False)) for values in self.records]

    def column(self, name: str) -> list[str]:
        """The values of column ``name`` in row order ('' where a row is short or the column is missing)."""
        if name not in self.header:
            return [""] * len(self.records)
        at = self.header.index(name)
        return [values[at] if at < len(values) else "" for values in self.records]

    def line(self, index: int) -> int:
        """The file line of row ``index`` (the header is line 1)."""
        return index + 2

    def require(self, columns: Iterable[str], *, what: str) -> None:
        """Refuse the file unless it has every one of ``columns``."""
        missing = [c for c in columns if c not in self.header]
        if missing:
            found = ", ".join(self.header[:12]) + (", ..." if len(self.header) > 12 else "")
            raise InvalidInput(
                f"{self.name} is not {what}: missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(c) for c in missing)} (found: {found})",
                field="file",
            )

    def require_one_of(self, groups: Iterable[Sequence[str]], *, what: str) -> list[str]:
        """The column the file has for each group of alternative names (the first it has); refuse the
        file, naming every group it lacks, when a group has none."""
        chosen: list[str] = []
        missing: list[str] = []
        for names in groups:
            found = next((n for n in names if n in self.header), None)
            if found is None:
                alternatives = f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""
                missing.append(f"{names[0]!r}{alternatives}")
            else:
                chosen.append(found)
        if missing:
            found = ", ".join(self.header[:12]) + (", ..." if len(self.header) > 12 else "")
            raise InvalidInput(
                f"{self.name} is not {what}: missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} (found: {found})",
                field="file",
            )
        return chosen


def read_table(path: Path, *, max_bytes: int = MAX_BYTES) -> Table:
    """Read a CSV export (UTF-8, with or without BOM; comma, semicolon or tab separated)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="file") from None
    if size > max_bytes:
        raise InvalidInput(
            f"{path.name} is {size / 2**30:.1f} GiB; imports take files up to {max_bytes / 2**30:.1f} GiB "
            "(split the export by date range)",
            field="file",
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"{path.name} is not UTF-8 text (line {line}, byte {exc.start}): export it as UTF-8 CSV", field="file"
        ) from None
    return parse_table(text, name=path.name)


def parse_table(text: str, *, name: str) -> Table:
    """Rows of CSV ``text``; the separator is detected from the header line."""
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InvalidInput(f"{name} is empty", field="file") from None
    except csv.Error as exc:
        raise InvalidInput(f"{name}: not a CSV file ({exc})", field="file") from None
    if len(set(header)) != len(header):
        repeated = sorted({h for h in header if header.count(h) > 1})
        raise InvalidInput(f"{name}: repeated column names {', '.join(repeated)}", field="file")
    records: list[list[str]] = []
    width = len(header)
    strip = str.strip
    try:
        for values in reader:
            stripped = list(map(strip, values))
            if not any(stripped):
                continue
            if len(stripped) > width:
                raise InvalidInput(f"{name}:{reader.line_num}: {len(values)} values for {width} columns", field="file")
            records.append(stripped)
    except csv.Error as exc:
        raise InvalidInput(f"{name}:{reader.line_num}: not valid CSV ({exc})", field="file") from None
    return Table(name, header, records)


def _parse_iso(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Parser = Callable[[str], datetime]


def _parser(fmt: str) -> Parser:
    if fmt == ISO:
        return _parse_iso
    return lambda value: datetime.strptime(value, fmt).replace(tzinfo=UTC)


@dataclass(frozen=True)
class DateColumn:
    """Parses one column's dates in the single format the column uses."""

    column: str
    format: str
    repeats: bool = False  # few distinct values (dates without a time): parse each once
    # Each row's moment, kept when finding the format meant reading them all.
    moments: list[datetime | None] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def _read(self) -> Parser:
        parse = _parser(self.format)
        return lru_cache(maxsize=1 << 16)(parse) if self.repeats else parse

    def parse(self, value: str) -> datetime | None:
        """The moment in UTC (dates without time are midnight UTC); None for an empty or invalid value."""
        if not value:
            return None
        try:
            return self._read(value)
        except ValueError:
            return None

    def moment(self, index: int, value: str) -> datetime | None:
        """What :meth:`parse` gives for ``value``, the column's value in row ``index``."""
        return self.parse(value) if self.moments is None else self.moments[index]


def _reads_all(fmt: str, values: Iterable[str]) -> bool:
    parse = _parser(fmt)
    try:
        for value in values:
            parse(value)
    except ValueError:
        return False
    return True


def _iso_column(table: Table, column: str, values: list[str]) -> DateColumn:
    """``column`` read as ISO 8601 (the only format its sample is in), each row's moment kept. A value
    ISO 8601 does not read is left to the adapter, unless another format reads it: then the column
    mixes formats and the file is refused."""
    moments: list[datetime | None] = []
    for i, value in enumerate(values):
        if not value:
            moments.append(None)
            continue
        try:
            moments.append(_parse_iso(value))
        except ValueError:
            if any(_reads(fmt, value) for fmt in DATE_FORMATS):
                first = next(v for v in values if v and _reads(ISO, v))
                raise InvalidInput(
                    f"{table.name}:{table.line(i)}: column {column!r} mixes date formats ({first!r} and {value!r}): "
                    "export the dates in one format",
                    field="file",
                ) from None
            moments.append(None)
    return DateColumn(column, ISO, moments=moments)


def _first_rows(values: list[str]) -> dict[str, int]:
    """Each distinct non-empty value with the index of the first row holding it, in row order."""
    first: dict[str, int] = {}
    for i, value in enumerate(values):
        if value and value not in first:
            first[value] = i
    return first


def date_column(table: Table, column: str, *, forced: str | None = None) -> DateColumn:
    """Find the one date format of ``column``; refuse a column that mixes formats or is ambiguous.

    Formats are first tried on a sample, then the candidates on every distinct value. A value no
    format reads (such as 2017-02-30) is left to the adapter to report; a value that another format
    reads is a second format in the same column, and the whole file is refused."""
    if forced is not None:
        return DateColumn(column, forced)
    column_values = table.column(column)
    filled = [v for v in column_values if v]
    if not filled:
        return DateColumn(column, ISO)
    sample = filled[:: max(1, len(filled) // 500)][:500]
    formats = (ISO, *DATE_FORMATS)
    candidates = [fmt for fmt in formats if _reads_all(fmt, sample)]
    if candidates == [ISO]:
        return _iso_column(table, column, column_values)
    first_row = _first_rows(column_values)
    values = list(first_row)
    repeats = len(values) * 2 <= len(filled)
    complete = [fmt for fmt in candidates if _reads_all(fmt, values)]
    if len(complete) > 1 and ISO not in complete:
        raise InvalidInput(
            f"{table.name}: the dates in column {column!r} read both as {complete[0]!r} and {complete[1]!r} "
            "(day and month are ambiguous): give --date-format",
            field="file",
        )
    if complete:
        return DateColumn(column, complete[0], repeats)
    # No format reads every value: take the one that reads most of the sample, then explain the rest.
    counts = [(sum(_reads(fmt, v) for v in sample), fmt) for fmt in formats]
    best_count, chosen = max(counts, key=lambda pair: pair[0])
    if best_count == 0:
        value, i = next(iter(first_row.items()))
        raise InvalidInput(
            f"{table.name}:{table.line(i)}: column {column!r} holds {value[:30]!r}, not a date in a known format "
            "(use YYYY-MM-DD, or give --date-format)",
            field="file",
        )
    parse = _parser(chosen)
    for value, i in first_row.items():
        try:
            parse(value)
        except ValueError:
            if any(_reads(fmt, value) for fmt in formats if fmt != chosen):
                first = next(v for v in values if _reads(chosen, v))
                raise InvalidInput(
                    f"{table.name}:{table.line(i)}: column {column!r} mixes date formats ({first!r} and {value!r}): "
                    "export the dates in one format",
                    field="file",
                ) from None
    return DateColumn(column, chosen, repeats)


def _reads(fmt: str, value: str) -> bool:
    try:
        _parser(fmt)(value)
    except ValueError:
        return False
    return True


def parse_amount(value: str) -> Decimal | None:
    """An amount such as ``1054``, ``1,054.50`` or ``$1054``; None when empty or not a number."""
    cleaned = value.replace(",", "").replace("$", "").replace("€", "").replace("£", "").strip()
    if not cleaned:
        return None
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def first_of(row: dict[str, str], columns: Sequence[str]) -> str:
    """The first non-empty value among ``columns``."""
    return next((row[c] for c in columns if row.get(c)), "")


def as_date(moment: datetime | None) -> date | None:
    """The calendar date of a moment, or None."""
    return None if moment is None else moment.date()
