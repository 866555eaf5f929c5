"""Percentiles and elapsed times computed in the database, the same way on SQLite and PostgreSQL.

Only a handful of numbers per group leave the database, so a metric over millions of stage
stays costs one grouped pass, never a transfer of every duration into Python:

- PostgreSQL: the ordered-set aggregate ``percentile_cont(q) WITHIN GROUP (ORDER BY x)``.
- Other backends (SQLite): ``row_number()`` and ``count()`` window functions partitioned by the
  group; only the one or two rows on either side of rank ``(n - 1) * q`` are fetched and
  interpolated in Python.

Both give the linear-interpolation percentile (PostgreSQL's ``percentile_cont``, NumPy's default
``method="linear"``, type 7 of Hyndman and Fan): over the sorted values ``x[0..n-1]`` and
``h = (n - 1) * q``, ``x[floor(h)] + (h - floor(h)) * (x[ceil(h)] - x[floor(h)])``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Connection, Float, Select, and_, cast, extract, func, or_, select

Group = tuple[Any, Any]


def percentiles(connection: Connection, rows: Select[Any], quantiles: Sequence[float]) -> dict[Group, list[float]]:
    """The ``quantiles`` (0..1) of column ``x`` of ``rows`` for each group of its columns ``k`` and ``g``."""
    if connection.dialect.name == "postgresql":
        return _ordered_set(connection, rows, quantiles)
    return _ranked(connection, rows, quantiles)


def within_groups(
    connection: Connection, x: ColumnElement[Any], quantiles: Sequence[float]
) -> list[ColumnElement[Any]]:
    """The ``quantiles`` of ``x`` as aggregates to add to a grouped query, on PostgreSQL: the
    percentiles then cost no pass of their own. Empty elsewhere (use :func:`percentiles`)."""
    if connection.dialect.name != "postgresql":
        return []
    return [func.percentile_cont(q).within_group(x) for q in quantiles]


def _ordered_set(connection: Connection, rows: Select[Any], quantiles: Sequence[float]) -> dict[Group, list[float]]:
    source = rows.subquery()
    found = [func.percentile_cont(q).within_group(source.c.x) for q in quantiles]
    query = select(source.c.k, source.c.g, *found).group_by(source.c.k, source.c.g)
    return {(r[0], r[1]): [float(v) for v in r[2:]] for r in connection.execute(query)}


def _ranked(connection: Connection, rows: Select[Any], quantiles: Sequence[float]) -> dict[Group, list[float]]:
    source = rows.subquery()
    groups = [source.c.k, source.c.g]
    ranked = select(
        source.c.k,
        source.c.g,
        source.c.x,
        func.row_number().over(partition_by=groups, order_by=source.c.x).label("rn"),
        func.count().over(partition_by=groups).label("n"),
    ).subquery()
    # The ranks (0-based) floor(h) and ceil(h) are the only ones strictly within 1 of h.
    near = [
        and_(ranked.c.rn - 1 > (ranked.c.n - 1) * q - 1, ranked.c.rn - 1 < (ranked.c.n - 1) * q + 1) for q in quantiles
    ]
    query = select(ranked.c.k, ranked.c.g, ranked.c.rn, ranked.c.n, ranked.c.x).where(or_(*near))
    values: dict[Group, dict[int, float]] = defaultdict(dict)
    sizes: dict[Group, int] = {}
    for k, g, rank, size, x in connection.execute(query):
        values[(k, g)][rank - 1] = float(x)
        sizes[(k, g)] = size
    return {group: [_interpolate(values[group], sizes[group], q) for q in quantiles] for group in values}


def ranked(values: NDArray[np.float64], q: float) -> float:
    """The ``q`` percentile of sorted ``values`` (not empty), as ``percentile_cont`` works it out."""
    h = (values.size - 1) * q
    low, high = math.floor(h), math.ceil(h)
    first = float(values[low])
    return first if high == low else first + (h - low) * (float(values[high]) - first)


# An interval element of array_send: its length, then microseconds, days and months.
_SENT_INTERVAL = np.dtype([("length", ">i4"), ("microseconds", ">i8"), ("days", ">i4"), ("months", ">i4")])


def interval_seconds(sent: bytes | None) -> NDArray[np.float64]:
    """The seconds of each interval of a PostgreSQL ``array_send`` image of a one-dimensional
    ``interval`` array without NULLs (None: no rows), as ``CAST(extract(epoch ...) AS FLOAT)`` gives
    them: the exact number of microseconds, divided once."""
    if sent is None:
        return np.empty(0)
    # Header: dimensions, null flag, element type, then (size, lower bound) per dimension.
    dimensions = int.from_bytes(sent[:4], "big")
    if int.from_bytes(sent[4:8], "big"):
        raise ValueError("an interval array with NULLs")
    elements = np.frombuffer(sent, dtype=_SENT_INTERVAL, offset=12 + 8 * dimensions)
    if elements["months"].any():
        raise ValueError("an interval with months: its length in seconds is not exact")
    days = elements["days"].astype(np.int64)
    return (elements["microseconds"].astype(np.int64) + days * 86_400_000_000) / 1e6


def _interpolate(at: dict[int, float], size: int, q: float) -> float:
    h = (size - 1) * q
    low, high = math.floor(h), math.ceil(h)
    return at[low] + (h - low) * (at[high] - at[low])


def elapsed_seconds(connection: Connection, start: ColumnElement[Any], end: ColumnElement[Any]) -> ColumnElement[float]:
    """Seconds from ``start`` to ``end`` (timestamp columns) as a float SQL expression.

    SQLite keeps times as text and its date functions resolve milliseconds."""
    if connection.dialect.name == "postgresql":
        return cast(extract("epoch", end - start), Float)
    return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)
