"""What the audit reads from the stays of a process: the *transitions* (stays grouped by where they
went, with exact median durations) and the *journeys* (one path per deal, grouped).

Both are grouped passes over ``stage_visits`` that return a few thousand rows whatever the number
of deals:

- transitions: per (stage, where the stays went) the stays by one-hour bucket of duration, which
  gives the counts and tells which bucket holds the middle value; one more pass fetches only the
  stays in those buckets, for exact medians without sorting every stay. And the moves per owner.
- journeys: per deal its stages in order as a string, its outcome, whether it was ever overridden
  or moved backward, and its cycle; grouped by path and outcome, with the median cycle.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Float,
    FromClause,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)

from dealflow.analytics.audit_paths import OPEN, OUTCOMES, Journey
from dealflow.analytics.percentiles import percentiles
from dealflow.analytics.scope import Rows, Scope
from dealflow.analytics.stays import MOVES
from dealflow.store import tables as t

SEPARATOR = ">"
BUCKET_SECONDS = 3600.0
_LAST = 2**62  # orders the stay a deal is in now after its finished ones

Edge = tuple[str, str]
T = TypeVar("T")
# Planner settings for the two reads, each in its own transaction. Handing rows from parallel
# workers to the leader is cheap next to evaluating and grouping them, so let workers scan: the
# default costs keep the histogram's scan in one process. Reading a deal's stays in order off the
# primary key beats sorting them all when the table is in memory, as on a server that holds it
# (the default random_page_cost, 4, assumes spinning disks). Groups stay in memory, not in files.
_PARALLEL = ("SET LOCAL parallel_setup_cost = 0", "SET LOCAL parallel_tuple_cost = 0")
_FOR_TRANSITIONS = (*_PARALLEL, "SET LOCAL work_mem = '64MB'")
_FOR_JOURNEYS = (*_PARALLEL, "SET LOCAL random_page_cost = 1.1", "SET LOCAL work_mem = '256MB'")


@dataclass
class Transitions:
    """Per (stage, where the stays went): stays, overridden, sent back at a handoff, moved backward,
    and the median duration; per owner: moves between stages, skips, backward moves, overrides."""

    counts: dict[Edge, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))
    medians: dict[Edge, float] = field(default_factory=dict)
    owners: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))


def _went(exit_kind: ColumnElement[str], to_stage: ColumnElement[str | None]) -> ColumnElement[str]:
    """Where a stay went, in SQL: the next stage, else (a close) the outcome. One grouping key
    instead of two: a close leaves the stage as it is, so its ``to_stage`` is NULL."""
    return func.coalesce(to_stage, exit_kind)


def target(stage: str, went: str) -> str:
    """Where a stay went, from :func:`_went`: a move that left the stage as it was stays there."""
    return stage if went in MOVES else went


def read_stays(connection: Connection, scope: Scope) -> tuple[Transitions, list[Journey]]:
    """The transitions and the journeys of ``scope``.

    On PostgreSQL the two reads run side by side on two more connections that import this one's
    snapshot (``pg_export_snapshot``), so they see exactly the same data and the audit takes as
    long as the longer of the two; elsewhere one after the other on ``connection``."""
    if connection.dialect.name != "postgresql":
        return _transitions_and_owners(connection, scope), read_journeys(connection, scope)
    snapshot = str(connection.execute(select(func.pg_export_snapshot())).scalar_one())
    engine = connection.engine
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="audit") as pool:
        transitions = pool.submit(
            _on_snapshot, engine, snapshot, _FOR_TRANSITIONS, lambda c: _transitions_and_owners(c, scope)
        )
        journeys = pool.submit(_on_snapshot, engine, snapshot, _FOR_JOURNEYS, lambda c: read_journeys(c, scope))
        return transitions.result(), journeys.result()


def _transitions_and_owners(connection: Connection, scope: Scope) -> Transitions:
    found = read_transitions(connection, scope)
    found.owners = read_owners(connection, scope)
    return found


def _on_snapshot(engine: Engine, snapshot: str, settings: Sequence[str], read: Callable[[Connection], T]) -> T:
    """``read`` on a new connection, in a read-only transaction on the exported ``snapshot``."""
    if not re.fullmatch(r"[0-9A-F-]+", snapshot):
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    with engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            # Compiling these queries (inlining, optimising) costs seconds and saves less.
            connection.exec_driver_sql("SET LOCAL jit = off")
            for setting in settings:
                connection.exec_driver_sql(setting)
            return read(connection)


# ---- which deals and stays ----------------------------------------------------------------------


def audited_deals(scope: Scope) -> Select[Any] | None:
    """The ids of the deals the filters and the period keep (None: every deal of the process).

    A deal is its owner's as in the metrics: a won deal is credited to whoever won it, not to the
    post-sale owner it was handed on to."""
    if not scope.filters and scope.period is None:
        return None
    d, won = t.deals.alias("audited_deal"), t.stage_visits.alias("won_stay")
    winner = select(won.c.owner).where(won.c.deal_id == d.c.id, won.c.exit == "won").limit(1).scalar_subquery()
    owner = case((d.c.status == "won", func.coalesce(winner, d.c.owner)), else_=d.c.owner)
    source, conditions, _ = scope.frame(d, Rows(owner=owner, stage=d.c.stage, deal=d))
    return (
        select(d.c.id)
        .select_from(source)
        .where(d.c.process == scope.process.key, scope.within(d.c.created_at), *conditions)
    )


def stays_in_scope(scope: Scope) -> list[ColumnElement[bool]]:
    """The conditions that pick the finished stays of the audited deals in sales stages."""
    v, process = t.stage_visits, scope.process
    conditions: list[ColumnElement[bool]] = [v.c.process == process.key]
    after_sale = [s.key for s in process.stages if s.post_sale]
    if after_sale:
        conditions.append(v.c.stage.not_in(after_sale))
    if (deals := audited_deals(scope)) is not None:
        conditions.append(v.c.deal_id.in_(deals))
    return conditions


# ---- transitions ------------------------------------------------------------------------------


def read_transitions(connection: Connection, scope: Scope) -> Transitions:
    """Counts and exact median durations of the transitions (owners: see :func:`read_owners`).

    The linear-interpolation median of n sorted values is the mean of ranks floor(h) and ceil(h),
    h = (n - 1) / 2 (PostgreSQL's ``percentile_cont(0.5)``). The first pass counts the stays of
    each transition by one-hour bucket of duration, which says which bucket holds each of those
    ranks and at which offset; the second fetches only the stays in those buckets. Two grouped
    scans instead of a sort of every stay."""
    v = t.stage_visits
    conditions = stays_in_scope(scope)
    # A subquery the planner keeps as it is (OFFSET 0): it then takes the bucket for what it is, a
    # few thousand values, and hashes the groups; seeing through to the durations (all distinct)
    # it would sort every stay instead.
    stays = (
        select(
            v.c.stage.label("stage"),
            _went(v.c.exit, v.c.to_stage).label("went"),
            _bucket(v.c.seconds).label("b"),
            v.c.overridden,
            v.c.exit,
        )
        .where(*conditions)
        .offset(0)
        .subquery("stays")
    )
    s = stays.c
    histogram = select(
        s.stage,
        s.went,
        s.b,
        func.count(),
        func.count().filter(s.overridden),
        func.count().filter(s.exit == "returned"),
        func.count().filter(s.exit == "backward"),
    ).group_by(s.stage, s.went, s.b)
    found = Transitions()
    sizes: dict[Edge, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for stage, to, b, count, overridden, returned, backward in connection.execute(histogram):
        edge = (stage, target(stage, to))
        tally = found.counts[edge]
        for i, value in enumerate((count, overridden, returned, backward)):
            tally[i] += int(value)
        sizes[edge][int(b)] += int(count)
    found.medians = _medians(connection, conditions, sizes)
    return found


def read_owners(connection: Connection, scope: Scope) -> dict[str, list[int]]:
    """Per owner of the stays: moves between stages, skips, backward moves, overrides."""
    v = t.stage_visits
    query = (
        select(v.c.owner, v.c.exit, func.count(), func.count().filter(v.c.overridden))
        .where(*stays_in_scope(scope), v.c.exit.in_(MOVES))
        .group_by(v.c.owner, v.c.exit)
    )
    owners: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for owner, exit_kind, count, overridden in connection.execute(query):
        mine = owners[owner]
        mine[0] += count
        mine[1] += count if exit_kind == "skip" else 0
        mine[2] += count if exit_kind == "backward" else 0
        mine[3] += overridden
    return owners


def _bucket(seconds: ColumnElement[float]) -> ColumnElement[int]:
    # Any monotone bucketing will do (PostgreSQL rounds, SQLite truncates): both passes use this one.
    return cast(seconds / BUCKET_SECONDS, BigInteger)


def _medians(
    connection: Connection, conditions: Sequence[ColumnElement[bool]], sizes: dict[Edge, dict[int, int]]
) -> dict[Edge, float]:
    """The exact median of each transition from its histogram and the stays of the buckets needed."""
    v = t.stage_visits
    bucket = _bucket(v.c.seconds)
    wanted: dict[Edge, list[tuple[int, int]]] = {}  # per transition: (bucket, offset) of both ranks
    for edge, buckets in sizes.items():
        h = (sum(buckets.values()) - 1) / 2
        wanted[edge] = [_locate(buckets, rank) for rank in (math.floor(h), math.ceil(h))]
    needed = {b for places in wanted.values() for b, _ in places}
    if not needed:
        return {}
    went = _went(v.c.exit, v.c.to_stage)
    rows = select(v.c.stage, went, bucket, v.c.seconds).where(*conditions, bucket.in_(needed))
    values: dict[tuple[Edge, int], list[float]] = defaultdict(list)
    keep = {(edge, b) for edge, places in wanted.items() for b, _ in places}
    for stage, to, b, seconds in connection.execute(rows):
        key = ((stage, target(stage, to)), int(b))
        if key in keep:
            values[key].append(float(seconds))
    medians = {}
    for edge, ((b_low, low), (b_high, high)) in wanted.items():
        x_low = sorted(values[(edge, b_low)])[low]
        x_high = sorted(values[(edge, b_high)])[high]
        h = (sum(sizes[edge].values()) - 1) / 2
        medians[edge] = x_low + (h - math.floor(h)) * (x_high - x_low)
    return medians


def _locate(buckets: dict[int, int], rank: int) -> tuple[int, int]:
    """The bucket holding the value of 0-based ``rank``, and its offset in that bucket."""
    below = 0
    for b in sorted(buckets):
        if rank < below + buckets[b]:
            return b, rank - below
        below += buckets[b]
    raise ValueError(f"rank {rank} beyond {below} values")


# ---- journeys ---------------------------------------------------------------------------------


def _finished(scope: Scope) -> Select[Any]:
    """The finished stays of the audited deals: deal, seq, stage, the outcome the stay closed with
    (or NULL), overridden, backward, seconds."""
    v = t.stage_visits
    return select(
        v.c.deal_id.label("deal_id"),
        v.c.seq.label("seq"),
        v.c.stage.label("stage"),
        case((v.c.exit.in_(OUTCOMES), v.c.exit), else_=null()).label("outcome"),
        case((v.c.overridden, 1), else_=0).label("overridden"),
        case((v.c.exit == "backward", 1), else_=0).label("backward"),
        v.c.seconds.label("seconds"),
    ).where(*stays_in_scope(scope))


def _open_deals(scope: Scope) -> Select[Any]:
    """The open deals of the scope and the stage each is in now."""
    d = t.deals
    conditions = [d.c.process == scope.process.key, d.c.status == "open"]
    if (deals := audited_deals(scope)) is not None:
        conditions.append(d.c.id.in_(deals))
    return select(d.c.id.label("deal_id"), d.c.stage.label("stage")).where(*conditions)


def _per_deal_postgresql(scope: Scope) -> FromClause:
    """One row per deal (see :func:`_per_deal`), from stays read in deal and seq order.

    Fed from a subquery ordered by deal and seq, string_agg() concatenates in that order (the
    PostgreSQL manual's way to order an aggregate's input); the order is the primary key's, so the
    stays can be read off it instead of sorted. The open deals' current stages are joined after."""
    ordered = _finished(scope).order_by(t.stage_visits.c.deal_id, t.stage_visits.c.seq).subquery("ordered")
    o = ordered.c
    stays = (
        select(
            o.deal_id,
            func.string_agg(o.stage, literal(SEPARATOR)).label("path"),
            func.max(o.outcome).label("outcome"),
            func.max(o.overridden).label("overridden"),
            func.max(o.backward).label("backward"),
            func.sum(o.seconds).label("cycle"),
        )
        .group_by(o.deal_id)
        .subquery("stays")
    )
    now = _open_deals(scope).subquery("now")
    s, n = stays.c, now.c
    path = func.coalesce(s.path.concat(SEPARATOR).concat(n.stage), s.path, n.stage)
    return (
        select(
            path.label("path"),
            s.outcome,
            func.coalesce(s.overridden, 0).label("overridden"),
            func.coalesce(s.backward, 0).label("backward"),
            s.cycle,
        )
        .select_from(stays.join(now, n.deal_id == s.deal_id, full=True))
        .subquery("per_deal")
    )


def _per_deal(connection: Connection, scope: Scope) -> FromClause:
    """One row per deal: its path (stages in order, the current one last), outcome (NULL while
    open), whether ever overridden or moved backward, and its cycle (the sum of its stays: from
    its first entry to its close)."""
    if connection.dialect.name == "postgresql":
        return _per_deal_postgresql(scope)
    # SQLite before 3.44 has no ORDER BY inside group_concat(); as a window function over the
    # deal's stays in seq order it concatenates them in that order.
    current = _open_deals(scope).subquery("now")
    now = select(
        current.c.deal_id,
        cast(literal(_LAST), BigInteger),
        current.c.stage,
        cast(null(), String),
        literal(0),
        literal(0),
        cast(literal(0.0), Float),
    )
    s = union_all(_finished(scope), now).subquery("every_stay")
    deal = s.c.deal_id
    stays = select(
        func.group_concat(s.c.stage, SEPARATOR)
        .over(partition_by=deal, order_by=s.c.seq, rows=(None, None))
        .label("path"),
        func.max(s.c.outcome).over(partition_by=deal).label("outcome"),
        func.max(s.c.overridden).over(partition_by=deal).label("overridden"),
        func.max(s.c.backward).over(partition_by=deal).label("backward"),
        func.sum(s.c.seconds).over(partition_by=deal).label("cycle"),
        func.row_number().over(partition_by=deal, order_by=s.c.seq).label("rn"),
    ).subquery("stays")
    c = stays.c
    return select(c.path, c.outcome, c.overridden, c.backward, c.cycle).where(c.rn == 1).subquery("per_deal")


def read_journeys(connection: Connection, scope: Scope) -> list[Journey]:
    """The deals grouped by path and outcome, with the median cycle of the closed ones."""
    deal = _per_deal(connection, scope)
    path, outcome = deal.c.path, func.coalesce(deal.c.outcome, OPEN)
    cycle = case((deal.c.outcome.is_not(None), deal.c.cycle), else_=null())
    tallies = [func.count(), func.sum(deal.c.overridden), func.sum(deal.c.backward)]
    if connection.dialect.name == "postgresql":
        # Grouped on the bytes ("C" collation): sorting a million paths by the language's rules
        # costs several times more, and the groups are the same.
        keys = [path.collate("C"), outcome.collate("C")]
        median = func.percentile_cont(0.5).within_group(cycle)
        rows = [tuple(r) for r in connection.execute(select(*keys, *tallies, median).group_by(*keys))]
    else:
        found = connection.execute(select(path, outcome, *tallies).group_by(path, outcome)).all()
        cycles = select(path.label("k"), outcome.label("g"), cycle.label("x")).where(deal.c.outcome.is_not(None))
        medians = percentiles(connection, cycles, (0.5,))
        rows = [(*r, medians[(r[0], r[1])][0] if (r[0], r[1]) in medians else None) for r in found]
    return [
        Journey(
            path=tuple(str(p).split(SEPARATOR)),
            outcome=str(end),
            deals=int(count),
            overridden=int(overridden or 0),
            backward=int(backward or 0),
            median_cycle_seconds=None if median is None else float(median),
        )
        for p, end, count, overridden, backward, median in rows
    ]
