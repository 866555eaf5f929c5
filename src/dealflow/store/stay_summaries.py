"""Summaries of the finished stage stays, kept beside them so that the all-time metrics read a few
small rows instead of every stay:

- ``deal_journeys``: one row per deal, the stages it has a finished stay in and those it left
  onward (forward, by a skip or by a win), each written ``|a|b|`` in the order first done, with
  its status and, while it is open, its stage. The all-time funnel groups these rows.
- ``stay_durations``: the stays counted by process, stage, how they ended, override and hour of
  duration (``hour_of``). Time in stage adds the counts up and reads the exact percentiles off the
  stays index within the one hour that holds each rank.

Every writer of ``stage_visits`` writes these too (live commands, the import's bulk path,
``dealflow rebuild``), so a rebuild reproduces them exactly.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, update
from sqlalchemy.dialects import postgresql, sqlite

from dealflow.domain.deals import Deal
from dealflow.store import driver_rows
from dealflow.store import tables as t
from dealflow.store.projections import write_visits

ONWARD = ("forward", "skip", "won")
SEPARATOR = "|"
HOUR = 3600.0
JOURNEY_COLUMNS = ("deal_id", "process", "status", "open_stage", "stayed", "onward")
DURATION_KEY = ("process", "stage", "exit", "overridden", "hour")

Durations = Counter[tuple[str, str, str, bool, int]]


def hour_of(seconds: float) -> int:
    """The hour of duration a stay counts in: h with ``3600.0 * h <= seconds < 3600.0 * (h + 1)``
    exactly as floats compare (so that index ranges match the counts), -1 for negative durations."""
    if seconds < 0:
        return -1
    hour = math.floor(seconds / HOUR)
    if seconds < HOUR * hour:
        return hour - 1
    return hour + 1 if seconds >= HOUR * (hour + 1) else hour


def hour_start(hour: int) -> float | None:
    """The shortest duration counted in ``hour`` (None for -1: no lower bound)."""
    return None if hour < 0 else HOUR * hour


def stage_sets(stays: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """The stages stayed in and left onward, from (stage, exit) of a deal's stays in order."""
    stayed: list[str] = []
    onward: list[str] = []
    for stage, exit_kind in stays:
        if stage not in stayed:
            stayed.append(stage)
        if exit_kind in ONWARD and stage not in onward:
            onward.append(stage)
    return joined(stayed), joined(onward)


def joined(stages: Iterable[str]) -> str:
    """Stage keys as a journey column holds them: ``|a|b|`` (``|`` when none)."""
    return SEPARATOR + "".join(stage + SEPARATOR for stage in stages)


def stages_in(text: str) -> list[str]:
    """The stage keys of a journey column."""
    return [stage for stage in text.split(SEPARATOR) if stage]


def journey_row(
    deal_id: str, process: str, status: str, stage: str, stays: Iterable[tuple[str, str]]
) -> tuple[object, ...]:
    """A deal's ``deal_journeys`` row (values in the order of ``JOURNEY_COLUMNS``)."""
    stayed, onward = stage_sets(stays)
    return (deal_id, process, status, stage if status == "open" else None, stayed, onward)


def count_durations(into: Durations, stays: Iterable[tuple[str, str, str, bool, float]]) -> None:
    """Add (process, stage, exit, overridden, seconds) stays to the counts ``into``."""
    for process, stage, exit_kind, overridden, seconds in stays:
        into[(process, stage, exit_kind, bool(overridden), hour_of(seconds))] += 1


def _stays_of(visits: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return [(str(v["stage"]), str(v["exit"])) for v in visits]


def _durations_of(visits: Iterable[Mapping[str, Any]]) -> Durations:
    found: Durations = Counter()
    count_durations(found, ((v["process"], v["stage"], v["exit"], v["overridden"], v["seconds"]) for v in visits))
    return found


# The stage a stay was in is added to a journey column unless the column has it already; with an
# empty mark and tag the column is left as it is. Built once, like the other hot statements.
def _append(column: Any, mark: str, tag: str) -> Any:
    return case((func.replace(column, bindparam(mark), "") == column, column + bindparam(tag)), else_=column)


_J = t.deal_journeys
_INSERT_JOURNEY = insert(_J)
_UPDATE_JOURNEY = (
    update(_J)
    .where(_J.c.deal_id == bindparam("w_deal_id"))
    .values(
        status=bindparam("w_status"),
        open_stage=bindparam("w_open_stage"),
        stayed=_append(_J.c.stayed, "w_stayed_mark", "w_stayed_tag"),
        onward=_append(_J.c.onward, "w_onward_mark", "w_onward_tag"),
    )
)


def _upsert(statement: Any) -> Any:
    return statement.on_conflict_do_update(
        index_elements=list(DURATION_KEY), set_={"stays": t.stay_durations.c.stays + statement.excluded.stays}
    )


_UPSERT_DURATIONS = {
    "postgresql": _upsert(postgresql.insert(t.stay_durations)),
    "sqlite": _upsert(sqlite.insert(t.stay_durations)),
}


def _bound(table: Any, prefix: str) -> dict[str, Any]:
    return {c.name: bindparam(prefix + c.name, type_=c.type) for c in table.columns}


# A move on PostgreSQL: the stay it ends, the deal's journey and the stay's count in one statement
# (data-modifying WITH clauses), so that the summaries cost a move no round trip of their own.
_ONE_STAY = _upsert(postgresql.insert(t.stay_durations).values(_bound(t.stay_durations, "d_"))).add_cte(
    insert(t.stage_visits).values(_bound(t.stage_visits, "v_")).cte("stay"),
    _UPDATE_JOURNEY.cte("journey"),
)


# A move on SQLite: the stay, the journey and the stay's count go straight to the driver (the same
# SQL as the statements above, the values as the column types bind them), which costs a fraction of
# a statement's round through SQLAlchemy.
_SQLITE_JOURNEY = """UPDATE deal_journeys SET status = ?, open_stage = ?,
 stayed = CASE WHEN replace(stayed, ?, '') = stayed THEN stayed || ? ELSE stayed END,
 onward = CASE WHEN replace(onward, ?, '') = onward THEN onward || ? ELSE onward END
 WHERE deal_id = ?"""
_SQLITE_DURATION = """INSERT INTO stay_durations (process, stage, exit, overridden, hour, stays)
 VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (process, stage, exit, overridden, hour)
 DO UPDATE SET stays = stays + excluded.stays"""


_STAY_COLUMNS = [c.name for c in t.stage_visits.columns]
_SQLITE_STAY = driver_rows.insert_sql(t.stage_visits, _STAY_COLUMNS)


def _write_one_stay_sqlite(connection: Connection, *, before: Deal, after: Deal, visit: dict[str, object]) -> None:
    stage, exit_ = str(visit["stage"]), str(visit["exit"])
    change = _journey_change(before, after, stage, exit_ in ONWARD)
    hour = hour_of(float(visit["seconds"]))  # type: ignore[arg-type]
    statements = (
        (_SQLITE_STAY, driver_rows.bound(connection.dialect, t.stage_visits, _STAY_COLUMNS, visit)),
        (
            _SQLITE_JOURNEY,
            (
                change["w_status"], change["w_open_stage"],
                change["w_stayed_mark"], change["w_stayed_tag"],
                change["w_onward_mark"], change["w_onward_tag"],
                change["w_deal_id"],
            ),
        ),
        (_SQLITE_DURATION, (visit["process"], stage, exit_, int(bool(visit["overridden"])), hour)),
    )  # fmt: skip
    driver_rows.run(connection, statements)


def write_stays(connection: Connection, *, before: Deal | None, after: Deal, visits: list[dict[str, object]]) -> None:
    """Insert the stays a deal's new events ended (``stage_visits``) and keep its journey and the stay
    counts up to date (live commands): ``before`` and ``after`` are its states around the events."""
    if connection.dialect.name == "sqlite" and before is not None and len(visits) == 1:
        _write_one_stay_sqlite(connection, before=before, after=after, visit=visits[0])
        return
    if connection.dialect.name != "postgresql" or before is None or len(visits) != 1:
        write_visits(connection, visits)
        write_journey(connection, before=before, after=after, visits=visits)
        return
    visit = visits[0]
    counted = {name: visit[name] for name in DURATION_KEY if name != "hour"}
    params = {
        **{"v_" + name: value for name, value in visit.items()},
        **{"d_" + name: value for name, value in counted.items()},
        "d_hour": hour_of(float(visit["seconds"])),  # type: ignore[arg-type]
        "d_stays": 1,
        **_journey_change(before, after, str(visit["stage"]), str(visit["exit"]) in ONWARD),
    }
    connection.execute(_ONE_STAY, params)


def write_journey(connection: Connection, *, before: Deal | None, after: Deal, visits: list[dict[str, object]]) -> None:
    """Keep a deal's journey and the stay counts up to date after its new events (live commands):
    ``before`` and ``after`` are its states around them, ``visits`` the stays they ended."""
    if before is None:
        row = journey_row(after.id, after.process, after.status, after.stage, _stays_of(visits))
        connection.execute(_INSERT_JOURNEY, dict(zip(JOURNEY_COLUMNS, row, strict=True)))
    else:
        open_stage = after.stage if after.status == "open" else None
        was_open_stage = before.stage if before.status == "open" else None
        steps = [(str(v["stage"]), str(v["exit"]) in ONWARD) for v in visits]
        if not steps and (after.status, open_stage) != (before.status, was_open_stage):
            steps = [("", False)]
        for stage, onward in steps:
            connection.execute(_UPDATE_JOURNEY, _journey_change(before, after, stage, onward))
    write_durations(connection, _durations_of(visits))


def _journey_change(before: Deal, after: Deal, stage: str, onward: bool) -> dict[str, object]:
    """The parameters of ``_UPDATE_JOURNEY``: the deal as it is after its events, with a stay in
    ``stage`` (none when empty), left onward or not."""
    mark = joined([stage]) if stage else ""
    return {
        "w_deal_id": after.id,
        "w_status": after.status,
        "w_open_stage": after.stage if after.status == "open" else None,
        "w_stayed_mark": mark,
        "w_stayed_tag": stage + SEPARATOR if stage else "",
        "w_onward_mark": mark if onward else "",
        "w_onward_tag": stage + SEPARATOR if onward else "",
    }


def insert_journeys(connection: Connection, rows: list[tuple[object, ...]]) -> None:
    """Insert the journeys of deals new to the workspace (rows as :func:`journey_row` gives them)."""
    if rows:
        connection.execute(_INSERT_JOURNEY, [dict(zip(JOURNEY_COLUMNS, row, strict=True)) for row in rows])


def write_durations(connection: Connection, counts: Durations) -> None:
    """Add stay counts to ``stay_durations``, in key order (so that concurrent writers lock rows in
    the same order)."""
    if not counts:
        return
    rows = [{**dict(zip(DURATION_KEY, key, strict=True)), "stays": n} for key, n in sorted(counts.items())]
    connection.execute(_UPSERT_DURATIONS[connection.dialect.name], rows)


def journeys_of(deals: Iterable[Deal], visits: Iterable[Mapping[str, Any]]) -> list[tuple[object, ...]]:
    """The journey rows of whole deals and their stays (replay)."""
    by_deal: dict[str, list[tuple[str, str]]] = {}
    for v in visits:
        by_deal.setdefault(str(v["deal_id"]), []).append((str(v["stage"]), str(v["exit"])))
    return [journey_row(d.id, d.process, d.status, d.stage, by_deal.get(d.id, ())) for d in deals]


def durations_of(visits: Iterable[Mapping[str, Any]]) -> Durations:
    """The stay counts of ``visits`` (``stage_visits`` rows as dicts)."""
    return _durations_of(visits)
