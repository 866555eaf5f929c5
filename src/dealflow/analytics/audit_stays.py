"""What the audit works out from the stays of a process: the *transitions* (stays grouped by
where they went, with exact median durations, and the moves per owner) and the *journeys* (one
path per deal, grouped by path and outcome, with the median cycle).

Both come from one read of the stays as columns (:mod:`dealflow.analytics.audit_columns`),
grouped with numpy: the stays sorted by deal and event number give each deal's path, encoded as
an integer (a few bits per stage) so that a million paths group with one sort; sorted by
transition they give each transition's exact median with a partial sort.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Connection, Select, case, func, select

from dealflow.analytics.audit_columns import EXITS, Stays, read_columns
from dealflow.analytics.audit_paths import OPEN, OUTCOMES, Journey
from dealflow.analytics.scope import Rows, Scope
from dealflow.analytics.stays import MOVES
from dealflow.store import tables as t

Edge = tuple[str, str]
Array = npt.NDArray[Any]
RETURNED, BACKWARD, SKIP = (EXITS.index(name) + 1 for name in ("returned", "backward", "skip"))
MOVE_CODES = [EXITS.index(name) + 1 for name in MOVES]
# A deal's outcome is the greatest of its stays' outcomes by name, as SQL's max() would pick it.
RANKED = tuple(sorted(OUTCOMES))


@dataclass
class Transitions:
    """Per (stage, where the stays went): stays, overridden, sent back at a handoff, moved backward,
    and the median duration; per owner: moves between stages, skips, backward moves, overrides."""

    counts: dict[Edge, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))
    medians: dict[Edge, float] = field(default_factory=dict)
    owners: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))


def target(stage: str, went: str) -> str:
    """Where a stay went: a move that left the stage as it was stays there."""
    return stage if went in MOVES else went


def read_stays(connection: Connection, scope: Scope) -> tuple[Transitions, list[Journey]]:
    """The transitions and the journeys of ``scope``, from one read of its stays."""
    stays = read_columns(connection, scope, stays_in_scope(scope), open_deals(scope))
    return transitions(stays), journeys(stays)


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


def open_deals(scope: Scope) -> Select[Any]:
    """The open deals of the scope and the stage each is in now."""
    d = t.deals
    conditions = [d.c.process == scope.process.key, d.c.status == "open"]
    if (deals := audited_deals(scope)) is not None:
        conditions.append(d.c.id.in_(deals))
    return select(d.c.id.label("deal_id"), d.c.stage.label("stage")).where(*conditions)


# ---- transitions ------------------------------------------------------------------------------


def transitions(stays: Stays) -> Transitions:
    """Counts and exact median durations of the transitions, and the moves per owner.

    The median is the linear-interpolation one (PostgreSQL's ``percentile_cont(0.5)``): over the
    n sorted durations and h = (n - 1) / 2, x[floor(h)] + (h - floor(h)) * (x[ceil(h)] - x[floor(h)])."""
    found = Transitions()
    edges, edge = _edges(stays)
    size = len(edges)
    exit_code = _exit(stays, stays.codes)
    flags = _overridden(stays, stays.codes) | ((exit_code == RETURNED) << 1) | ((exit_code == BACKWARD) << 2)
    # Stays per transition and combination of the three flags, in one pass.
    tally = np.bincount(edge * 8 + flags, minlength=size * 8).reshape(size, 8)
    counts = tally.sum(axis=1)
    marked = [tally[:, [f for f in range(8) if f & bit]].sum(axis=1) for bit in (1, 2, 4)]
    # Grouped by transition (a stable sort of 16-bit integers is a radix sort), then the two
    # middle values of each group found by a partial sort.
    by_edge = np.argsort(edge.astype(np.int16 if size < 2**15 else np.int64), kind="stable")
    seconds = stays.seconds[by_edge]
    ends = np.cumsum(counts)
    for i, key in enumerate(edges):
        found.counts[key] = [int(counts[i]), *(int(m[i]) for m in marked)]
        found.medians[key] = median(seconds[ends[i] - counts[i] : ends[i]])
    found.owners = _owners(stays, exit_code)
    return found


def median(values: Array) -> float:
    """The linear-interpolation median of ``values`` (not empty), as ``percentile_cont(0.5)``."""
    h = (len(values) - 1) / 2
    low, high = math.floor(h), math.ceil(h)
    middle = np.partition(values, (low, high))
    x_low, x_high = float(middle[low]), float(middle[high])
    return x_low + (h - low) * (x_high - x_low)


def _stage(stays: Stays, codes: Array) -> Array:
    return codes & ((1 << stays.bits) - 1)


def _exit(stays: Stays, codes: Array) -> Array:
    return (codes >> 2 * stays.bits) & 7


def _overridden(stays: Stays, codes: Array) -> Array:
    return (codes >> 2 * stays.bits + 3) & 1


def _edges(stays: Stays) -> tuple[list[Edge], Array]:
    """The distinct transitions, and for each stay the index of its own."""
    bits = stays.bits
    pair = stays.codes & ((1 << 2 * bits) - 1)  # stage, then where it went
    index = np.zeros(1 << 2 * bits, dtype=np.int64)
    edges: dict[Edge, int] = {}
    for p in np.flatnonzero(np.bincount(pair, minlength=1 << 2 * bits)).tolist():
        stage, to = stays.names[p & ((1 << bits) - 1)], stays.names[p >> bits]
        index[p] = edges.setdefault((stage, target(stage, to)), len(edges))
    return list(edges), index[pair]


def _owners(stays: Stays, exit_code: Array) -> dict[str, list[int]]:
    """Per owner of the stays: moves between stages, skips, backward moves, overrides."""
    is_move = np.zeros(len(EXITS) + 1, dtype=bool)
    is_move[MOVE_CODES] = True
    moving = np.flatnonzero(is_move[exit_code])
    owner, kind = stays.owner[moving], exit_code[moving]
    flags = (kind == SKIP) | ((kind == BACKWARD) << 1) | (_overridden(stays, stays.codes[moving]) << 2)
    size = len(stays.owners)
    tally = np.bincount(owner * 8 + flags, minlength=size * 8).reshape(size, 8)
    moves = tally.sum(axis=1)
    marked = [tally[:, [f for f in range(8) if f & bit]].sum(axis=1) for bit in (1, 2, 4)]
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for i in np.flatnonzero(moves).tolist():
        found[stays.owners[i]] = [int(moves[i]), *(int(m[i]) for m in marked)]
    return found


# ---- journeys ---------------------------------------------------------------------------------


@dataclass
class _Deals:
    """One entry per audited deal: its path's stage codes are the stays ``start`` to ``start +
    stays`` (in event order) then ``now`` (the stage it is in, 0 when closed)."""

    start: Array
    stays: Array
    now: Array
    outcome: Array  # 0 open, else 1 + index into RANKED
    overridden: Array  # 0 or 1
    backward: Array  # 0 or 1
    cycle: Array  # seconds from first entry to close: its stays' durations added in order


def journeys(stays: Stays) -> list[Journey]:
    """The deals grouped by path and outcome, with the median cycle of the closed ones."""
    order, starts = by_deal(stays.deal, stays.seq)
    codes = stays.codes[order]
    stage = _stage(stays, codes)
    deals = _deals(stays, order, starts, codes)
    bits = stays.bits
    per_word = 62 // bits  # and two bits for the outcome
    length = deals.stays + (deals.now > 0)
    short = length <= per_word
    keys = (_path_keys(stage, deals, bits, short) << np.uint64(2)) | deals.outcome.astype(np.uint64)
    found = _group(stays, deals, np.flatnonzero(short), keys, bits)
    found += _group_long(stays, stage, deals, np.flatnonzero(~short))
    return found


def by_deal(deal: Array, seq: Array) -> tuple[Array, Array]:
    """The order of the stays by deal key then event number, and where each deal's stays start.

    The deal keys (uint64) are sorted directly, with each stay's position in the low bits in
    place of the key's own: a plain sort of integers is several times faster than an argsort.
    Deals that share the kept high bits are told apart afterwards. Stays read in event order (as
    they are mostly written) need no second sort; the deals with some that are not get theirs
    sorted."""
    count = len(deal)
    if not count:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low = max(1, (count - 1).bit_length())
    order = (np.sort((deal >> np.uint64(low)) << np.uint64(low) | np.arange(count, dtype=np.uint64))
             & np.uint64((1 << low) - 1)).astype(np.int64)  # fmt: skip
    keys = deal[order]
    high = keys >> np.uint64(low)
    if (np.diff(keys.view(np.int64)) != 0).sum() != (high[1:] != high[:-1]).sum():
        order = order[np.argsort(keys, kind="stable")]  # two deals share the high bits: sort in full
        keys = deal[order]
    new = np.ones(count, dtype=bool)
    new[1:] = keys[1:] != keys[:-1]
    # The deals with stays out of event order (few) get theirs sorted.
    events = seq[order]
    dense = np.cumsum(new)
    unsorted = np.flatnonzero(~new[1:] & (events[1:] <= events[:-1]))
    if len(unsorted):
        marked = np.zeros(int(dense[-1]) + 1, dtype=bool)
        marked[dense[unsorted]] = True
        redo = np.flatnonzero(marked[dense])
        order[redo] = order[redo][np.lexsort((events[redo], dense[redo]))]
    return order, np.flatnonzero(new)


def _deals(stays: Stays, order: Array, starts: Array, codes: Array) -> _Deals:
    """Per deal with stays, then per open deal without any: what its journey needs."""
    count = len(order)
    lengths = np.diff(np.append(starts, count))
    rank = np.zeros(len(EXITS) + 1, dtype=np.int64)
    for name in OUTCOMES:
        rank[EXITS.index(name) + 1] = RANKED.index(name) + 1
    exit_code = _exit(stays, codes)

    def per_deal(values: Array) -> Array:
        return np.maximum.reduceat(values, starts) if count else np.zeros(0, dtype=np.int64)

    keys = stays.deal[order[starts]]
    now = np.zeros(len(starts), dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, stays.open_deal), max(len(keys) - 1, 0))
    known = keys[at] == stays.open_deal if len(keys) else np.zeros(len(at), dtype=bool)
    now[at[known]] = stays.open_stage[known]
    fresh = stays.open_stage[~known]
    none = np.zeros(len(fresh), dtype=np.int64)
    return _Deals(
        start=np.concatenate([starts, none]),
        stays=np.concatenate([lengths, none]),
        now=np.concatenate([now, fresh]),
        outcome=np.concatenate([per_deal(rank[exit_code]), none]),
        overridden=np.concatenate([per_deal(_overridden(stays, codes)), none]),
        backward=np.concatenate([per_deal((exit_code == BACKWARD).astype(np.int64)), none]),
        cycle=np.concatenate([_cycles(stays.seconds[order], starts, lengths), none.astype(np.float64)]),
    )


def _cycles(seconds: Array, starts: Array, lengths: Array) -> Array:
    """Each deal's durations added one by one in event order (as a sum over the ordered stays)."""
    cycle = seconds[starts] if len(starts) else np.zeros(0)
    longer = np.arange(len(starts))
    for k in range(1, int(lengths.max()) if len(lengths) else 0):
        longer = longer[lengths[longer] > k]
        cycle[longer] += seconds[starts[longer] + k]
    return cycle


def _path_keys(stage: Array, deals: _Deals, bits: int, short: Array) -> Array:
    """Each deal's path as an integer, ``bits`` per stage, the first stage lowest (short paths only)."""
    keys = np.zeros(len(deals.start), dtype=np.uint64)
    chosen = np.flatnonzero(short & (deals.stays > 0))
    for k in range(int(deals.stays[chosen].max()) if len(chosen) else 0):
        chosen = chosen[deals.stays[chosen] > k]
        keys[chosen] |= stage[deals.start[chosen] + k].astype(np.uint64) << np.uint64(bits * k)
    current = np.flatnonzero(short & (deals.now > 0))
    keys[current] |= deals.now[current].astype(np.uint64) << (deals.stays[current] * bits).astype(np.uint64)
    return keys


def _group(stays: Stays, deals: _Deals, chosen: Array, keys: Array, bits: int) -> list[Journey]:
    """The journeys of the ``chosen`` deals, grouped by their integer keys."""
    if not len(chosen):
        return []
    order = chosen[np.argsort(keys[chosen])]
    key = keys[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(order))
    overridden = np.add.reduceat(deals.overridden[order], starts)
    backward = np.add.reduceat(deals.backward[order], starts)
    cycles = deals.cycle[order]
    found = []
    for i, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        value = int(key[start])
        outcome, path = value & 3, value >> 2
        stages = []
        while path:
            stages.append(stays.names[path & ((1 << bits) - 1)])
            path >>= bits
        tallies = (end - start, int(overridden[i]), int(backward[i]))
        found.append(_journey(tuple(stages), outcome, *tallies, cycles[start:end]))
    return found


def _group_long(stays: Stays, stage: Array, deals: _Deals, chosen: Array) -> list[Journey]:
    """The journeys of deals whose paths are too long for one integer, grouped in Python."""
    groups: dict[tuple[tuple[str, ...], int], list[int]] = defaultdict(list)
    for i in chosen.tolist():
        start, count = int(deals.start[i]), int(deals.stays[i])
        codes = stage[start : start + count].tolist() + ([int(deals.now[i])] if deals.now[i] else [])
        groups[(tuple(stays.names[c] for c in codes), int(deals.outcome[i]))].append(i)
    return [
        _journey(path, outcome, len(members), int(deals.overridden[members].sum()), int(deals.backward[members].sum()),
                 deals.cycle[members])
        for (path, outcome), members in groups.items()
    ]  # fmt: skip


def _journey(path: tuple[str, ...], outcome: int, deals: int, overridden: int, backward: int, cycles: Array) -> Journey:
    return Journey(
        path=path,
        outcome=RANKED[outcome - 1] if outcome else OPEN,
        deals=deals,
        overridden=overridden,
        backward=backward,
        median_cycle_seconds=median(cycles) if outcome else None,
    )
