"""The event-log CSV read as columns (polars): large files without a Python object per row.

:func:`read_event_columns` reads and checks the file, numbers the deals in the order the file first
names them, and works out what every deal's history needs (owner, team, account and title, its
stage entries, its outcome) with array operations. A deal whose rows need a closer look (a bad date
or amount, a row without a stage, a close date, several outcome rows) is read by the general reader
(:mod:`dealflow.imports.generic`), row by row, which also reports what it finds. A file the columns
cannot read exactly as the general reader does (dates in another format, a file it would refuse,
unusual characters) is left to the general path: the function then answers None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from math import fsum
from pathlib import Path

import polars as pl

from dealflow.imports.csvfiles import ISO, MAX_BYTES, DateColumn, Table, parse_amount
from dealflow.imports.generic import DIMENSIONS, REQUIRED, Columns, history_from_rows
from dealflow.imports.history import DealHistory, ImportReport, outcome_of

OPTIONAL = ("owner", "amount", "title", "account", "team", *DIMENSIONS, "reason", "close_date")
DESCRIBED = ("owner", "team", "account", "title")
# Bytes the csv module and polars read differently: a NUL, separators Python strips as
# whitespace and Rust does not. A lone carriage return is checked apart.
_QUIRKS = (b"\x00", b"\x1c", b"\x1d", b"\x1e", b"\x1f")
_LONE_CR = re.compile(rb"\r(?!\n)")  # a carriage return that does not end a line with a line feed
# ISO 8601 as the columns read it (every other value sends the file to the general reader).
_ISO_SHAPE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:\.\d{3}|\.\d{6})?(?:Z|\+00:00)?)?$"
_UTC = pl.Datetime("us", "UTC")
_OWN = {"i", "deal", "ref", "at", "outcome", "amount_value"}  # the columns reading adds


@dataclass
class EventColumns:
    """An event log read as columns.

    ``rows``: one row per file row that names a deal, by deal then in file order: ``i`` (the row's index, its
    line is ``i + 2``), ``deal`` (the deal's number, in the order the file first names it), the
    file's columns (stripped, '' when empty), ``at`` (the timestamp, null when missing or
    impossible), ``amount_value`` (the amount as a decimal, null when empty or not a number),
    ``outcome``. ``deals``: one row per deal, in deal order: ``deal``, ``ref``, ``title``, ``owner``,
    ``team``, ``account``, ``source``, ``segment``, ``product`` (null when no row names one), where each
    dimension is first named (``source_from``...), ``outcome``, ``closed_at``, ``reason``,
    ``closing_amount``, ``closer`` (whether the general reader must tell it). ``histories``: the
    deals the general reader read, by deal number."""

    name: str
    header: list[str]
    records: int
    rows: pl.DataFrame
    deals: pl.DataFrame
    histories: dict[int, DealHistory]

    @cached_property
    def entries(self) -> pl.DataFrame:
        """Every deal's stage entries in order of time (ties in file order): ``deal``, ``j`` (the
        entry's place in its deal), ``stage``, ``at``, ``amount_value``."""
        found = self.rows.filter(pl.col("at").is_not_null() & (pl.col("stage") != "") & pl.col("outcome").is_null())
        found = found.sort("deal", "at", "i").select(pl.col("deal").set_sorted(), "stage", "at", "amount_value")
        return found.with_columns(j=pl.int_range(pl.len()).over("deal"))

    def stage_order(self) -> list[str]:
        """The working stages in the order deals usually go through them (what ``stage_order`` of
        the general path gives for the same histories)."""
        entries = self.entries.with_columns(n=pl.len().over("deal"))
        first = entries.filter(pl.struct("deal", "stage").is_first_distinct())
        first = first.with_columns(rank=pl.int_range(pl.len()).over("deal"))
        first = first.with_columns(
            position=pl.when(pl.col("n") > 1).then(pl.col("rank") / (pl.col("n") - 1)).otherwise(0.0)
        )
        keys = []
        for (stage,), group in first.group_by("stage"):
            values = group["position"].to_list()
            keys.append((fsum(values) / len(values), -len(values), str(stage)))
        return [stage for _, _, stage in sorted(keys)]

    def won_from(self) -> set[str]:
        """The stage each won deal was last in."""
        entries = self.entries
        last = entries.group_by("deal").agg(pl.col("stage").last())
        won = self.deals.filter(pl.col("outcome") == "won").select("deal")
        return set(last.join(won, on="deal")["stage"].to_list())


def read_event_columns(path: Path, *, report: ImportReport) -> EventColumns | None:
    """The event log at ``path`` as columns, reporting what the general reader reports while
    reading; None when the general path must read it (see the module docstring)."""
    table = _read(path)
    if table is None:
        return None
    header, frame = table
    if "close_date" in header and (frame["close_date"] != "").any():
        return None  # close dates have a date format of their own to find: the general reader's
    frame = frame.with_row_index("i").with_columns(pl.col("i").cast(pl.Int64))
    at = _moments(frame["timestamp"])
    if at is None:
        return None
    frame = frame.with_columns(at=at)
    for row in frame.filter(pl.col("deal_id") == "")["i"].to_list():
        report.add("missing_id", "row without a deal_id; skipped", row=row + 2)
    records = frame.height
    frame = frame.filter(pl.col("deal_id") != "").rename({"deal_id": "ref"})
    frame = frame.with_columns(deal=(pl.col("i").min().over("ref").rank("dense") - 1).cast(pl.Int64))
    # Each deal's rows together, in file order: grouping by deal then takes slices, not hashes.
    frame = frame.sort("deal", "i").with_columns(pl.col("deal").set_sorted())
    frame = frame.with_columns(
        outcome=_mapped(frame["stage"], outcome_of),
        amount_value=_mapped(frame["amount"], _amount_text),
    )
    deals = _deals(frame)
    closer = deals.filter(pl.col("closer"))["deal"]
    histories = _closer_histories(path.name, header, frame.filter(pl.col("deal").is_in(closer.implode())), report)
    return EventColumns(path.name, header, records, frame, deals, histories)


def closer_histories(columns: EventColumns, deals: list[int]) -> dict[int, DealHistory]:
    """The histories of ``deals`` as the general reader reads them (rows that it would not report)."""
    rows = columns.rows.filter(pl.col("deal").is_in(deals))
    return _closer_histories(columns.name, columns.header, rows, ImportReport(format="events", file=columns.name))


def _read(path: Path) -> tuple[list[str], pl.DataFrame] | None:
    """The file's header and its non-blank rows (stripped, '' for missing values), every optional
    column there; None for a file the general reader must read (or refuse)."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        raw = path.read_bytes()
        raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if any(quirk in raw for quirk in _QUIRKS) or _LONE_CR.search(raw):
        return None
    end = raw.find(b"\n")
    first = raw if end < 0 else raw[:end]
    delimiter = max((b",", b";", b"\t"), key=first.count).decode()
    try:
        frame = pl.read_csv(raw, has_header=False, infer_schema=False, separator=delimiter, quote_char='"')
    except (pl.exceptions.PolarsError, ValueError):
        return None
    if frame.height == 0:
        return None
    header = [(value or "").strip() for value in frame.row(0)]
    if len(set(header)) != len(header) or any(column not in header for column in REQUIRED):
        return None
    if _OWN & set(header):
        return None  # a column named like one the reading adds
    frame = frame.slice(1).rename(dict(zip(frame.columns, header, strict=True)))
    edges = frame.select(pl.col(name).str.contains(r"^\s|\s$").any() for name in frame.columns).row(0)
    padded = [name for name, edged in zip(frame.columns, edges, strict=True) if edged]
    frame = frame.with_columns(pl.col(padded).str.strip_chars()).fill_null("")
    frame = frame.filter(pl.any_horizontal(pl.all() != ""))
    missing = [pl.lit("").alias(column) for column in OPTIONAL if column not in header]
    return header, frame.with_columns(missing) if missing else frame


def _moments(values: pl.Series) -> pl.Series | None:
    """The timestamps as moments in UTC (null where missing or impossible), as ``datetime.fromisoformat``
    reads them; None when a value has another shape, or when no value of the sample the general
    reader guesses the format from is a date (it refuses such a file)."""
    filled = values.filter(values != "")
    if not filled.str.contains(_ISO_SHAPE).all():
        return None
    text = values.str.replace(r"(?:Z|\+00:00)$", "").str.replace(" ", "T", literal=True)
    text = (
        pl.select(
            pl.when(text.str.len_bytes() == 10)
            .then(text + "T00:00:00.000")
            .when(text.str.len_bytes() == 19)
            .then(text + ".000")
            .otherwise(text)
        )
        .to_series()
        .str.pad_end(26, "0")
    )
    moments = text.str.strptime(_UTC, "%Y-%m-%dT%H:%M:%S%.f", strict=False)
    # What fromisoformat refuses and chrono takes: year 0, a leap second.
    impossible = text.str.starts_with("0000-") | (text.str.slice(17, 2) == "60") | (values == "")
    moments = pl.select(pl.when(impossible).then(None).otherwise(moments)).to_series()
    if filled.len():
        step = max(1, filled.len() // 500)
        sample = moments.filter(values != "").gather_every(step).head(500)
        if sample.null_count() == sample.len():
            return None
    return moments.alias("at")


def _amount_text(raw: str) -> str | None:
    """The amount as the general reader takes it (a decimal written out), or None when it reports it."""
    amount = parse_amount(raw)
    return None if amount is None or amount < 0 else str(amount)


def _mapped(values: pl.Series, function: object) -> pl.Series:
    """``function`` of each distinct non-empty value, spread over the column (null for '')."""
    distinct = values.filter(values != "").unique().to_list()
    mapping = {value: function(value) for value in distinct}  # type: ignore[operator]
    return values.replace_strict(mapping, default=None, return_dtype=pl.String)


def _deals(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per deal: what its rows say of it, and whether the general reader must tell it."""
    valid = pl.col("at").is_not_null()
    last = {key: pl.col(key).filter(valid & (pl.col(key) != "")).last() for key in DESCRIBED}
    outcomes = valid & pl.col("outcome").is_not_null()
    bad_row = (
        ~valid
        | ((pl.col("amount") != "") & pl.col("amount_value").is_null())
        | (pl.col("stage") == "")
        | (pl.col("close_date") != "")
    )
    dimensions = {}
    for key in DIMENSIONS:
        named = valid & (pl.col(key) != "")
        dimensions[key] = pl.col(key).filter(named).last()
        dimensions[f"{key}_from"] = pl.col("i").filter(named).first()
    deals = rows.group_by("deal").agg(
        pl.col("ref").first(),
        **dimensions,
        first_title=pl.col("title").first(),
        **last,
        outcome=pl.col("outcome").filter(outcomes).last(),
        closed_at=pl.col("at").filter(outcomes).last(),
        reason=pl.col("reason").filter(outcomes).last(),
        closing_amount=pl.col("amount_value").filter(outcomes).last(),
        closer=bad_row.any() | (outcomes.sum() > 1),
    )
    title = pl.coalesce(pl.col("title"), pl.when(pl.col("first_title") != "").then("first_title"), pl.col("ref"))
    return deals.sort("deal").with_columns(title=title).drop("first_title")


def _closer_histories(name: str, header: list[str], rows: pl.DataFrame, report: ImportReport) -> dict[int, DealHistory]:
    """The general reader's history of each deal in ``rows``, in deal order."""
    if rows.height == 0:
        return {}
    table = Table(name, header, [])
    columns = Columns(header)
    when = DateColumn("timestamp", ISO)
    close = DateColumn("close_date", ISO) if "close_date" in header else None
    original = [column if column != "deal_id" else "ref" for column in header]
    records = dict(zip(rows["i"].to_list(), (list(values) for values in rows.select(original).rows()), strict=True))
    histories = {}
    for (deal,), group in rows.sort("deal", "i").group_by("deal", maintain_order=True):
        indexes = group["i"].to_list()
        ref = group["ref"][0]
        histories[int(deal)] = history_from_rows(table, records, columns, ref, indexes, when, close, report)
    return histories
