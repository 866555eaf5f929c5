"""What a forecast reads from the workspace: every deal's stays in sales stages, its ending, its
amount and the reps' own calls, as the arrays of :class:`dealflow.analytics.forecast.History`.

Times are read as seconds since the epoch, computed by the database, and the stays (millions in a
large workspace) go straight into arrays: on PostgreSQL the server encodes each stay's deal, stage
and owner as numbers and a binary COPY hands the rows over as one buffer that numpy reads as it is.

Amounts are the deals' current ones (``deals.amount``): the history of an amount is not rebuilt,
so a forecast as of a past date values a deal at what it is worth today. A rep's call (the
fields ``forecast_category`` and ``rep_probability``) counts as of a moment only if it was last
set before that moment; an older value that was overwritten since is not known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Float, case, cast, literal_column, select, text, union

from dealflow.analytics.forecast import Floats, History, Ints
from dealflow.errors import StorageError
from dealflow.store import tables as t
from dealflow.store.processes import load_process

CATEGORIES = ("commit", "best_case", "pipeline", "omitted")
_NOT_SET = float("nan")
READ_ATTEMPTS = 3


@dataclass(frozen=True)
class Calls:
    """The reps' calls per deal index: forecast category and probability, and when each was set."""

    category: tuple[str | None, ...]
    category_at: Floats
    probability: Floats
    probability_at: Floats

    def category_as_of(self, deal: int, moment: float) -> str | None:
        """The category the rep had called by ``moment``, if known."""
        return self.category[deal] if self.category_at[deal] <= moment else None

    def probability_as_of(self, deal: int, moment: float) -> float | None:
        """The probability the rep had called by ``moment``, if known."""
        value = float(self.probability[deal])
        return value if self.probability_at[deal] <= moment and not np.isnan(value) else None

    def categories_as_of(self, deals: Ints, moment: float) -> list[str | None]:
        """:meth:`category_as_of` of each of ``deals``."""
        known = (self.category_at[deals] <= moment).tolist()
        return [self.category[d] if k else None for d, k in zip(deals.tolist(), known, strict=True)]

    def probabilities_as_of(self, deals: Ints, moment: float) -> list[float | None]:
        """:meth:`probability_as_of` of each of ``deals``."""
        values = self.probability[deals]
        known = ((self.probability_at[deals] <= moment) & ~np.isnan(values)).tolist()
        return [v if k else None for v, k in zip(values.tolist(), known, strict=True)]


def _moment(raw: Any) -> float:
    try:
        return datetime.fromisoformat(str(raw)).timestamp() if raw is not None else _NOT_SET
    except ValueError:
        return _NOT_SET


def _category(raw: Any) -> str | None:
    value = None if raw is None else str(raw).strip().lower().replace("-", "_").replace(" ", "_")
    return value if value in CATEGORIES else None


def _probability(raw: Any) -> float:
    """A called probability, 0.7 or 70 or '70%', as a share; NaN when not a probability."""
    try:
        value = float(str(raw).strip().removesuffix("%")) if raw is not None else _NOT_SET
    except ValueError:
        return _NOT_SET
    value = value / 100 if value > 1 else value
    return value if 0 <= value <= 1 else _NOT_SET


def _stage_order(connection: Connection, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(process, stage) pairs in the order of their process's stages (unknown stages last)."""
    found = set(keys)
    ordered: list[tuple[str, str]] = []
    for key in sorted({process for process, _ in found}):
        stages = [s.key for s in load_process(connection, key=key).stages]
        ordered += [(key, s) for s in stages if (key, s) in found]
    return ordered + sorted(found - set(ordered))


def _field(name: str, part: str) -> Any:
    return t.deals.c.state[("fields", name, part)].as_string().label(f"{name}_{part}")


def _epoch(column: str, dialect: str) -> str:
    """SQL for a timestamp column as seconds since the epoch: on PostgreSQL a float8 (its
    microseconds over 1e6, what Python's ``timestamp()`` gives), on SQLite whole microseconds
    (the column holds UTC text with six decimals), divided by 1e6 once read (see :func:`_seconds`)."""
    if dialect == "postgresql":
        return f"date_part('epoch', {column})"
    return f"(CAST(strftime('%s', {column}) AS INTEGER) * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"


def _seconds(values: Iterable[float | None], dialect: str) -> Floats:
    """Seconds since the epoch from :func:`_epoch` values; inf where there is none (still open)."""
    found = np.array([np.inf if v is None else v for v in values], dtype=float)
    return found if dialect == "postgresql" else found / 1e6


def _deal_rows(connection: Connection, process: str | None) -> list[tuple[Any, ...]]:
    """Per deal, in the order of ids: id, title, won, amount, has an amount, closed; for an open
    deal its current stay (process, stage, owner, entered); the reps' calls (value and time)."""
    d, dialect = t.deals, connection.dialect.name
    is_open = d.c.status == "open"
    query = select(
        d.c.id,
        d.c.title,
        d.c.status == "won",
        cast(d.c.amount, Float),
        d.c.amount.is_not(None),
        literal_column(_epoch("deals.closed_at", dialect)),
        case((is_open, d.c.process)),
        case((is_open, d.c.stage)),
        case((is_open, d.c.owner)),
        case((is_open, literal_column(_epoch("deals.stage_entered_at", dialect)))),
        _field("forecast_category", "value"),
        _field("forecast_category", "at"),
        _field("rep_probability", "value"),
        _field("rep_probability", "at"),
    ).order_by(d.c.id)
    if process is not None:
        query = query.where(d.c.process == process)
    return [tuple(row) for row in connection.execute(query)]


def _stay_keys(connection: Connection, process: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """Every (process, stage) pair and every owner of a stay, past or current, each once."""
    v, d = t.stage_visits, t.deals
    past = select(v.c.process, v.c.stage, v.c.owner).distinct()
    now = select(d.c.process, d.c.stage, d.c.owner).where(d.c.status == "open")
    if process is not None:
        past, now = past.where(v.c.process == process), now.where(d.c.process == process)
    rows = connection.execute(union(past, now)).all()
    return sorted({(row[0], row[1]) for row in rows}), sorted({row[2] for row in rows})


class _Stays(NamedTuple):
    """Stays as arrays: deal position, codes of (process, stage) and owner, entered and left."""

    deal: Ints
    stage: Ints
    owner: Ints
    entered: Floats
    left: Floats


# The stays of the deals read, each with its deal's position in the order of ids; a stay that
# began once its deal had closed is no stay in a sales stage.
_STAYS = """
WITH read AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS position, closed_at FROM deals{deals_where}){codes}
SELECT CAST(read.position AS {integer}), {keys}, {entered}, {left}
FROM stage_visits v JOIN read ON read.id = v.deal_id{joins}
WHERE (read.closed_at IS NULL OR v.entered_at < read.closed_at){visits_where}
"""
# On PostgreSQL the server gives stages and owners as their positions in the lists it is sent.
_CODES = """,
stage_codes AS (
    SELECT process, stage, CAST(position - 1 AS int4) AS code
    FROM unnest(CAST(%(processes)s AS text[]), CAST(%(stages)s AS text[]))
        WITH ORDINALITY AS c(process, stage, position)
),
owner_codes AS (
    SELECT owner, CAST(position - 1 AS int4) AS code
    FROM unnest(CAST(%(owners)s AS text[])) WITH ORDINALITY AS c(owner, position)
)"""
_JOINS = """
LEFT JOIN stage_codes s ON s.process = v.process AND s.stage = v.stage
LEFT JOIN owner_codes o ON o.owner = v.owner"""
# A row of that statement in a binary COPY: the number of fields, then each field's size and value.
_FIELDS = (("deal", ">i4"), ("stage", ">i4"), ("owner", ">i4"), ("entered", ">f8"), ("left", ">f8"))
_COPY_ROW = np.dtype([("fields", ">i2")] + [part for n, k in _FIELDS for part in ((f"{n}_size", ">i4"), (n, k))])
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _copy_rows(buffer: bytes) -> NDArray[np.void]:
    """The rows of a binary COPY of :data:`_STAYS` (header, fixed-size rows, trailer)."""
    start = 19 + int.from_bytes(buffer[15:19], "big") if len(buffer) >= 19 else 0
    size = len(buffer) - start - 2
    if not buffer.startswith(_COPY_SIGNATURE) or size < 0 or size % _COPY_ROW.itemsize:
        raise StorageError("the stays came back in an unexpected form from PostgreSQL")
    rows = np.frombuffer(buffer, dtype=_COPY_ROW, offset=start, count=size // _COPY_ROW.itemsize)
    if np.any(rows["fields"] != len(_FIELDS)):
        raise StorageError("the stays came back in an unexpected form from PostgreSQL")
    return rows


def _postgres_stays(
    connection: Connection, process: str | None, pairs: list[tuple[str, str]], owners: list[str]
) -> _Stays:
    """The stays, encoded by the server and read with one binary COPY."""
    sql = _STAYS.format(
        deals_where="" if process is None else " WHERE process = %(process)s",
        codes=_CODES,
        integer="int4",
        keys="COALESCE(s.code, -1), COALESCE(o.code, -1)",
        entered=_epoch("v.entered_at", "postgresql"),
        left=_epoch("v.left_at", "postgresql"),
        joins=_JOINS,
        visits_where="" if process is None else " AND v.process = %(process)s",
    )
    parameters = {"process": process, "processes": [p for p, _ in pairs], "stages": [s for _, s in pairs]}
    parameters["owners"] = owners
    # Hash the deals in memory rather than in batches on disk, and skip compiling the plan (seconds).
    connection.execute(text("SELECT set_config('work_mem', '256MB', true), set_config('jit', 'off', true)"))
    chunks: list[bytes] = []
    driver = connection.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", parameters) as copy:  # type: ignore[union-attr]
        chunks.extend(bytes(chunk) for chunk in copy)
    rows = _copy_rows(b"".join(chunks))
    return _Stays(
        rows["deal"].astype(np.int64),
        rows["stage"].astype(np.int64),
        rows["owner"].astype(np.int64),
        rows["entered"].astype(float),
        rows["left"].astype(float),
    )


def _sqlite_stays(
    connection: Connection, process: str | None, pairs: list[tuple[str, str]], owners: list[str]
) -> _Stays:
    """The stays, their stages and owners encoded here."""
    sql = _STAYS.format(
        deals_where="" if process is None else " WHERE process = :process",
        codes="",
        integer="INTEGER",
        keys="v.process, v.stage, v.owner",
        entered=_epoch("v.entered_at", "sqlite"),
        left=_epoch("v.left_at", "sqlite"),
        joins="",
        visits_where="" if process is None else " AND v.process = :process",
    )
    rows = connection.execute(text(sql), {"process": process}).all()
    deal, processes, stages, names, entered, left = (list(c) for c in zip(*rows, strict=True)) if rows else ([],) * 6
    stage_code = {pair: code for code, pair in enumerate(pairs)}
    owner_code = {owner: code for code, owner in enumerate(owners)}
    return _Stays(
        np.array(deal, dtype=np.int64),
        np.array([stage_code.get(pair, -1) for pair in zip(processes, stages, strict=True)], dtype=np.int64),
        np.array([owner_code.get(owner, -1) for owner in names], dtype=np.int64),
        np.array(entered, dtype=float) / 1e6,
        np.array(left, dtype=float) / 1e6,
    )


def _column(values: Sequence[Any], convert: Callable[[Any], Any], empty: Any) -> list[Any]:
    """``convert`` of each value, ``empty`` where there is none (most deals carry no call)."""
    found = [empty] * len(values)
    for i, value in enumerate(values):
        if value is not None:
            found[i] = convert(value)
    return found


def _used(codes: Ints, names: Sequence[Any]) -> tuple[Ints, list[Any]]:
    """Codes renumbered over the names actually used (in the same order), and those names."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    renumber = np.full(len(names), -1, dtype=np.int64)
    renumber[used] = np.arange(used.size)
    return renumber[codes], [names[i] for i in used.tolist()]


def _read(connection: Connection, process: str | None) -> tuple[History, Calls] | None:
    """One reading of the history; None when a deal, stage or owner was added while reading."""
    dialect = connection.dialect.name
    keys, owners = _stay_keys(connection, process)
    pairs = _stage_order(connection, keys)
    deals = _deal_rows(connection, process)
    stays = (_postgres_stays if dialect == "postgresql" else _sqlite_stays)(connection, process, pairs, owners)
    count = len(deals)
    ids, titles, won, amount, has_amount, closed_at, *current, category, category_at, rep, rep_at = (
        zip(*deals, strict=True) if deals else ((),) * 14
    )
    open_process, open_stage, open_owner, open_entered = current
    held = [i for i, key in enumerate(open_process) if key is not None]
    pair_code = {pair: code for code, pair in enumerate(pairs)}
    owner_code = {owner: code for code, owner in enumerate(owners)}
    stage = np.concatenate([stays.stage, [pair_code.get((open_process[i], open_stage[i]), -1) for i in held]])
    owner = np.concatenate([stays.owner, [owner_code.get(open_owner[i], -1) for i in held]])
    if np.any(stage < 0) or np.any(owner < 0) or (stays.deal.size and int(stays.deal.max()) >= count):
        return None
    stage, stages = _used(stage.astype(np.int64), pairs)
    owner, names = _used(owner.astype(np.int64), owners)
    several = len({p for p, _ in stages}) > 1
    history = History(
        stages=tuple(f"{p}/{s}" if several else s for p, s in stages),
        owners=tuple(names),
        deal_ids=tuple(ids),
        titles=tuple(titles),
        closed=_seconds(closed_at, dialect),
        won=np.array(won, dtype=bool),
        amount=np.array([0.0 if a is None else a for a in amount], dtype=float),
        has_amount=np.array(has_amount, dtype=bool),
        stay_deal=np.concatenate([stays.deal, np.array(held, dtype=np.int64)]),
        stay_stage=stage,
        stay_owner=owner,
        entered=np.concatenate([stays.entered, _seconds([open_entered[i] for i in held], dialect)]),
        left=np.concatenate([stays.left, np.full(len(held), np.inf)]),
    )
    calls = Calls(
        category=tuple(_column(category, _category, None)),
        category_at=np.array(_column(category_at, _moment, _NOT_SET), dtype=float),
        probability=np.array(_column(rep, _probability, _NOT_SET), dtype=float),
        probability_at=np.array(_column(rep_at, _moment, _NOT_SET), dtype=float),
    )
    return history, calls


def load_history(connection: Connection, *, process: str | None = None) -> tuple[History, Calls]:
    """Every deal's sales-stage stays and ending (of one process, or all), and the reps' calls.

    The deals and their stays are read by separate statements; when a deal, stage or owner was
    added in between, the history is read again."""
    for _ in range(READ_ATTEMPTS):
        found = _read(connection, process)
        if found is not None:
            return found
    raise StorageError("the deals kept changing while the forecast read them; try again")
