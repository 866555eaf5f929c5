"""The stays the audit reads, as columns: one numpy entry per finished stay of the audited deals
(deal, seq, stage, where it went, exit, override, owner, duration) and the stage each open deal
is in now. :mod:`dealflow.analytics.audit_stays` works out the graph and the paths from them.

Names (stages, outcomes, owners) travel as small integer codes into ``Stays.names`` and
``Stays.owners``; a deal is an integer key, equal for the stays of one deal and only for them.

On PostgreSQL the server sends each column as one binary value (``string_agg`` of the values'
binary forms), so that four million stays cost a handful of messages, not one each, and the
client parses them with ``np.frombuffer``. The table is read in page ranges side by side, on
connections that share the caller's snapshot. Stage names become codes in SQL (``CASE``); a deal
is the 64-bit ``hashtextextended`` of its id, checked to be different for every deal of the
workspace; an owner the same hash of the owner, mapped back to names through the users and, for
owners that are not users, one more query. Other backends (SQLite) read the rows as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    case,
    cast,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import BYTEA
from sqlalchemy.sql import ClauseElement

from dealflow.analytics.audit_paths import OUTCOMES
from dealflow.analytics.scope import Scope
from dealflow.analytics.stays import MOVES
from dealflow.store import tables as t

EXITS = (*MOVES, *OUTCOMES)  # code i + 1; 0: an exit the audit has no use for
PART_ROWS = 50_000_000  # at most this many stays per part: each column of a part is one value (< 1 GB)
T = TypeVar("T")
_COMPILED = ("jit = on", "jit_above_cost = 0", "jit_inline_above_cost = 0", "jit_optimize_above_cost = 0")
Array = npt.NDArray[Any]
Conditions = Sequence[ColumnElement[bool]]


@dataclass(frozen=True)
class Stays:
    """The finished stays of the audited deals in sales stages, and the open deals' current stages.

    ``codes`` packs, ``bits`` bits each, the stage and where the stay went (the next stage, or
    the outcome of a close) as codes into ``names``, then the exit as a code into :data:`EXITS`
    (3 bits) and whether the move was overridden (1 bit): one array to sort and gather instead of
    four. ``owner`` codes into ``owners``. Code 0 of ``names`` is unused."""

    deal: Array  # uint64
    seq: Array  # int64
    codes: Array  # int64
    bits: int
    owner: Array  # int64
    seconds: Array  # float64
    open_deal: Array  # uint64, same keys as ``deal``
    open_stage: Array  # int64
    names: tuple[str, ...]
    owners: tuple[str, ...]


def pack(stage: Array, to: Array, exit_code: Array, overridden: Array, bits: int) -> Array:
    """The ``codes`` of :class:`Stays` from their parts."""
    codes: Array = stage | (to << bits) | (exit_code << 2 * bits) | (overridden.astype(np.int64) << 2 * bits + 3)
    return codes


def went(v: Any) -> ColumnElement[str]:
    """Where a stay went, in SQL: the next stage, else (a close) the outcome. A close leaves the
    stage as it is, so its ``to_stage`` is NULL."""
    return func.coalesce(v.c.to_stage, v.c.exit)


def vocabulary(scope: Scope) -> list[str]:
    """The names codes start from: the process's stages, the outcomes and the kinds of move."""
    names = ["", *(s.key for s in scope.process.stages)]
    return names + [n for n in EXITS if n not in names]


def read_columns(
    connection: Connection, scope: Scope, conditions: Sequence[ColumnElement[bool]], current: Select[Any]
) -> Stays:
    """The stays matching ``conditions`` and the open deals ``current`` selects (id, stage)."""
    if connection.dialect.name == "postgresql":
        return _Reader(connection, scope, conditions, current).read()
    return _read_rows(connection, scope, conditions, current)


# ---- other backends: the rows as they are -----------------------------------------------------


def _read_rows(
    connection: Connection, scope: Scope, conditions: Sequence[ColumnElement[bool]], current: Select[Any]
) -> Stays:
    v = t.stage_visits
    names = {name: code for code, name in enumerate(vocabulary(scope))}
    deals: dict[str, int] = {}
    owners: dict[str, int] = {}
    query = select(v.c.deal_id, v.c.seq, v.c.stage, went(v), v.c.exit, v.c.overridden, v.c.owner, v.c.seconds)
    rows = connection.execute(query.where(*conditions)).all()
    exits = {name: code for code, name in enumerate(EXITS, start=1)}

    def code(table: dict[str, int], name: str) -> int:
        return table.setdefault(name, len(table))

    columns = [
        [code(deals, r[0]) for r in rows],
        [r[1] for r in rows],
        [code(names, r[2]) for r in rows],
        [code(names, r[3]) for r in rows],
        [exits.get(r[4], 0) for r in rows],
        [bool(r[5]) for r in rows],
        [code(owners, r[6]) for r in rows],
        [float(r[7]) for r in rows],
    ]
    now = connection.execute(current).all()
    open_deal = [code(deals, r[0]) for r in now]
    open_stage = [code(names, r[1]) for r in now]
    deal, seq, stage, to, exit_, overridden, owner, seconds = (
        np.array(c, dtype=d) for c, d in zip(columns, _DTYPES, strict=True)
    )
    bits = max(1, (len(names) - 1).bit_length())
    return Stays(
        deal=deal.astype(np.uint64),
        seq=seq,
        codes=pack(stage, to, exit_, overridden, bits),
        bits=bits,
        owner=owner,
        seconds=seconds,
        open_deal=np.array(open_deal, dtype=np.uint64),
        open_stage=np.array(open_stage, dtype=np.int64),
        names=tuple(names),
        owners=tuple(owners),
    )


_DTYPES: tuple[type[Any], ...] = (np.int64, np.int64, np.int64, np.int64, np.int64, np.bool_, np.int64, np.float64)


# ---- PostgreSQL: binary columns, read in parts side by side ----------------------------------


def _column(value: ColumnElement[Any], send: str = "int8send") -> ColumnElement[bytes]:
    """One binary value holding ``value`` of every row, in big-endian fixed width (NULL: no rows)."""
    return func.string_agg(getattr(func, send)(value), literal(b"", BYTEA))


def _codes(value: ColumnElement[str], names: Sequence[str]) -> ColumnElement[int]:
    """The code of each name in SQL, 0 for a name not in ``names``."""
    return case({name: code for code, name in enumerate(names) if code}, value=value, else_=0)


def _fetch(connection: Connection, query: ClauseElement) -> list[Any]:
    """The one row of ``query``, binary values as bytes (the driver's text format would double them)."""
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor(binary=True) as cursor:
        cursor.execute(str(compiled), compiled.params)
        return list(cursor.fetchone() or ())


def _int64(data: bytes | None) -> Array:
    return np.frombuffer(data or b"", dtype=">i8").astype(np.int64)


class _Unknown(Exception):
    """The read met names it has no code for, or two deals sharing a hash: read again."""


class _Reader:
    """One read of the stays on PostgreSQL; :meth:`read` retries with more names or another seed."""

    def __init__(
        self, connection: Connection, scope: Scope, conditions: Sequence[ColumnElement[bool]], current: Select[Any]
    ) -> None:
        self.connection = connection
        self.scope = scope
        self.conditions = list(conditions)
        self.current = current.subquery("current")
        self.names = vocabulary(scope)

    def read(self) -> Stays:
        """The stays; a name without a code or a hash shared by two deals sends it round again."""
        snapshot = str(self.connection.execute(select(func.pg_export_snapshot())).scalar_one())
        if not re.fullmatch(r"[0-9A-F-]+", snapshot):
            raise ValueError(f"unexpected snapshot id {snapshot!r}")
        self.snapshot = snapshot
        pages, max_seq = self._on_snapshot(_table_size)
        for seed in range(4):
            try:
                return self._read(seed, pages, max_seq)
            except _Unknown:
                continue
        raise RuntimeError("reading the stays: names without a code or deals sharing a hash, four times running")

    def _on_snapshot(self, read: Callable[[Connection], T], *, compiled: bool = False) -> T:
        """``read`` on a new connection, in a read-only transaction on the exported snapshot.

        ``compiled``: let the server compile the query's expressions (JIT, inlined and optimised);
        for the read of every stay that costs a fraction of a second and saves a quarter of its
        time. The small reads are cheaper without."""
        engine: Engine = self.connection.engine
        with engine.connect() as connection:
            connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{self.snapshot}'")
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                for setting in _COMPILED if compiled else ("jit = off",):
                    connection.exec_driver_sql(f"SET LOCAL {setting}")
                return read(connection)

    def _read(self, seed: int, pages: tuple[int, int], max_seq: int) -> Stays:
        code_bits = (len(self.names) - 1).bit_length()
        shift = 2 * code_bits + 4  # stage, went, exit (3 bits), overridden
        packed = max_seq < 2 ** (63 - shift)
        bounds = _page_ranges(*pages)
        with ThreadPoolExecutor(max_workers=len(bounds) + 1, thread_name_prefix="audit") as pool:
            deals = pool.submit(self._on_snapshot, lambda c: self._deals(c, seed))
            parts = [
                pool.submit(self._on_snapshot, lambda c, b=b: self._part(c, seed, b, code_bits, packed), compiled=True)
                for b in bounds
            ]
            found = [p.result() for p in parts]
            every_deal, open_deal, open_stage, users = deals.result()
        columns = [np.concatenate([part[i] for part in found]) for i in range(len(found[0]))]
        if packed:
            deal, key, seconds, owner = columns
            seq = key >> shift
        else:
            deal, seq, key, seconds, owner = columns
        mask = (1 << code_bits) - 1
        if not ((key & mask).all() and ((key >> code_bits) & mask).all() and open_stage.all()):
            self._learn_names(seed)
            raise _Unknown
        every_deal.sort()
        if (every_deal[1:] == every_deal[:-1]).any():
            raise _Unknown
        owners, owner_codes = self._owners(seed, owner, users)
        return Stays(
            deal=deal.view(np.uint64),
            seq=seq,
            codes=key & ((1 << shift) - 1) if packed else key,
            bits=code_bits,
            owner=owner_codes,
            seconds=seconds,
            open_deal=open_deal.view(np.uint64),
            open_stage=open_stage,
            names=tuple(self.names),
            owners=owners,
        )

    def _part(
        self, connection: Connection, seed: int, pages: tuple[int, int | None], code_bits: int, packed: bool
    ) -> list[Array]:
        """The stays on ``pages`` (first page, end or None), as arrays."""
        v = t.stage_visits
        exit_code = case({name: code for code, name in enumerate(EXITS, start=1)}, value=v.c.exit, else_=0)
        codes = (
            _codes(v.c.stage, self.names)
            .op("|")(_codes(went(v), self.names).op("<<")(code_bits))
            .op("|")(exit_code.op("<<")(2 * code_bits))
            .op("|")(cast(v.c.overridden, Integer).op("<<")(2 * code_bits + 3))
        )
        shift = 2 * code_bits + 4
        # A product, not a shift: an event number too large to share the value fails loudly.
        key = [_column(v.c.seq * (1 << shift) + cast(codes, BigInteger))] if packed else [
            _column(v.c.seq), _column(cast(codes, BigInteger))
        ]  # fmt: skip
        first, end = pages
        within = [text("ctid >= CAST(:first_page AS tid)").bindparams(first_page=f"({first},0)")]
        if end is not None:
            within.append(text("ctid < CAST(:end_page AS tid)").bindparams(end_page=f"({end},0)"))
        query = select(
            _column(func.hashtextextended(v.c.deal_id, seed)),
            *key,
            _column(v.c.seconds, "float8send"),
            _column(func.hashtextextended(v.c.owner, seed)),
        ).where(*self.conditions, *within)
        values = _fetch(connection, query)
        arrays = [_int64(value) for value in values]
        arrays[-2] = np.frombuffer(values[-2] or b"", dtype=">f8").astype(np.float64)
        return arrays

    def _deals(self, connection: Connection, seed: int) -> tuple[Array, Array, Array, dict[int, str]]:
        """Every deal's hash (to check they differ), the open deals' hashes and stage codes, and
        the users by hash."""
        d, n = t.deals, self.current
        every = _fetch(connection, select(_column(func.hashtextextended(d.c.id, seed))))
        now = _fetch(
            connection,
            select(
                _column(func.hashtextextended(n.c.deal_id, seed)),
                _column(cast(_codes(n.c.stage, self.names), BigInteger)),
            ),
        )
        u = t.users
        rows = connection.execute(select(u.c.id, func.hashtextextended(u.c.id, seed))).all()
        users = {int(h): str(i) for i, h in rows}
        if len(users) != len(rows):
            raise _Unknown
        return _int64(every[0]), _int64(now[0]), _int64(now[1]), users

    def _owners(self, seed: int, hashes: Array, users: dict[int, str]) -> tuple[tuple[str, ...], Array]:
        """The owners' names and each stay's owner code, from the hashes."""
        known = np.array(sorted(users), dtype=np.int64)
        found = np.searchsorted(known, hashes) if len(known) else np.zeros(len(hashes), dtype=np.int64)
        found = np.minimum(found, max(len(known) - 1, 0))
        missing = np.ones(len(hashes), dtype=bool) if not len(known) else known[found] != hashes
        if missing.any():
            users = {**users, **self._other_owners(seed, np.unique(hashes[missing]))}
            known = np.array(sorted(users), dtype=np.int64)
            found = np.searchsorted(known, hashes)
        return tuple(users[int(h)] for h in known), found.astype(np.int64)

    def _other_owners(self, seed: int, hashes: Array) -> dict[int, str]:
        """The owners of stays who are not users, by hash (a hash with two names: read again)."""
        v = t.stage_visits
        owner = func.hashtextextended(v.c.owner, seed)
        query = select(v.c.owner, owner).where(*self.conditions, owner.in_([int(h) for h in hashes])).distinct()
        rows = self._on_snapshot(lambda c: c.execute(query).all())
        found = {int(h): str(name) for name, h in rows}
        if len(found) != len(rows) or len(found) != len(hashes):
            raise _Unknown
        return found

    def _learn_names(self, seed: int) -> None:
        """Add the stage and outcome names the codes did not cover (a process edited since)."""
        v, n = t.stage_visits, self.current
        known = self.names[1:]
        queries = [
            select(v.c.stage.label("name")).where(*self.conditions, v.c.stage.not_in(known)),
            select(went(v).label("name")).where(*self.conditions, went(v).not_in(known)),
            select(n.c.stage.label("name")).where(n.c.stage.not_in(known)),
        ]
        found: set[str] = set()
        for query in queries:
            found.update(str(r[0]) for r in self._on_snapshot(lambda c, q=query: c.execute(q.distinct()).all()))  # type: ignore[misc]
        self.names.extend(sorted(found))


def _table_size(connection: Connection) -> tuple[tuple[int, int], int]:
    """The pages of ``stage_visits`` and its estimated rows; the highest event number."""
    pages, rows = connection.execute(
        text(
            "SELECT pg_relation_size('stage_visits') / current_setting('block_size')::int, "
            "greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'stage_visits'::regclass"
        )
    ).one()
    max_seq = connection.execute(select(func.coalesce(func.max(t.events.c.seq), 0))).scalar_one()
    return (int(pages), int(rows)), int(max_seq)


def _page_ranges(pages: int, rows: int) -> list[tuple[int, int | None]]:
    """Page ranges that split the table in two or more parts; the last one open-ended."""
    count = max(2, -(-rows // PART_ROWS))
    step = max(1, -(-pages // count))
    starts = list(range(0, max(pages, 1), step))
    return [(start, starts[i + 1] if i + 1 < len(starts) else None) for i, start in enumerate(starts)]
