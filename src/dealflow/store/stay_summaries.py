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
from dealflow.store import tables as t

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
            mark = joined([stage]) if stage else ""
            params = {
                "w_deal_id": after.id,
                "w_status": after.status,
                "w_open_stage": open_stage,
                "w_stayed_mark": mark,
                "w_stayed_tag": stage + SEPARATOR if stage else "",
                "w_onward_mark": mark if onward else "",
                "w_onward_tag": stage + SEPARATOR if onward else "",
            }
            connection.execute(_UPDATE_JOURNEY, params)
    write_durations(connection, _durations_of(visits))


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
