"""What a forecast reads from the workspace: every deal's stays in sales stages, its ending, its
amount and the reps' own calls, as the arrays of :class:`dealflow.analytics.forecast.History`.

Amounts are the deals' current ones (``deals.amount``): the history of an amount is not rebuilt,
so a forecast as of a past date values a deal at what it is worth today. A rep's call (the
fields ``forecast_category`` and ``rep_probability``) counts as of a moment only if it was last
set before that moment; an older value that was overwritten since is not known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from dealflow.analytics.forecast import Floats, History, Ints
from dealflow.services.lookups import load_process
from dealflow.store import tables as t

CATEGORIES = ("commit", "best_case", "pipeline", "omitted")
_NOT_SET = float("nan")


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


def _seconds(moment: datetime | None) -> float:
    return float("inf") if moment is None else moment.timestamp()


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


def _deal_rows(connection: Connection, process: str | None) -> list[Any]:
    d = t.deals
    query = select(
        d.c.id,
        d.c.title,
        d.c.process,
        d.c.owner,
        d.c.stage,
        d.c.status,
        d.c.amount,
        d.c.stage_entered_at,
        d.c.closed_at,
        _field("forecast_category", "value"),
        _field("forecast_category", "at"),
        _field("rep_probability", "value"),
        _field("rep_probability", "at"),
    ).order_by(d.c.id)
    if process is not None:
        query = query.where(d.c.process == process)
    return list(connection.execute(query).all())


def _visit_rows(connection: Connection, process: str | None) -> list[Any]:
    v = t.stage_visits
    query = select(v.c.deal_id, v.c.process, v.c.stage, v.c.owner, v.c.entered_at, v.c.left_at)
    if process is not None:
        query = query.where(v.c.process == process)
    return list(connection.execute(query).all())


def load_history(connection: Connection, *, process: str | None = None) -> tuple[History, Calls]:
    """Every deal's sales-stage stays and ending (of one process, or all), and the reps' calls."""
    deals = _deal_rows(connection, process)
    index = {row.id: i for i, row in enumerate(deals)}
    ends = [_seconds(row.closed_at) for row in deals]
    closed = np.array(ends, dtype=float)
    stays = [
        (i, key, stage, owner, entered, left_at.timestamp())
        for deal_id, key, stage, owner, entered_at, left_at in _visit_rows(connection, process)
        if (i := index.get(deal_id)) is not None and (entered := entered_at.timestamp()) < ends[i]
    ]
    stays += [
        (i, row.process, row.stage, row.owner, row.stage_entered_at.timestamp(), float("inf"))
        for i, row in enumerate(deals)
        if row.status == "open"
    ]
    stages = _stage_order(connection, ((s[1], s[2]) for s in stays))
    stage_code = {pair: code for code, pair in enumerate(stages)}
    owners = sorted({s[3] for s in stays})
    owner_code = {owner: code for code, owner in enumerate(owners)}
    several = len({p for p, _ in stages}) > 1
    history = History(
        stages=tuple(f"{p}/{s}" if several else s for p, s in stages),
        owners=tuple(owners),
        deal_ids=tuple(row.id for row in deals),
        titles=tuple(row.title for row in deals),
        closed=closed,
        won=np.array([row.status == "won" for row in deals], dtype=bool),
        amount=np.array([float(row.amount or 0) for row in deals], dtype=float),
        has_amount=np.array([row.amount is not None for row in deals], dtype=bool),
        stay_deal=np.array([s[0] for s in stays], dtype=np.int64),
        stay_stage=np.array([stage_code[(s[1], s[2])] for s in stays], dtype=np.int64),
        stay_owner=np.array([owner_code[s[3]] for s in stays], dtype=np.int64),
        entered=np.array([s[4] for s in stays], dtype=float),
        left=np.array([s[5] for s in stays], dtype=float),
    )
    calls = Calls(
        category=tuple(_category(row.forecast_category_value) for row in deals),
        category_at=np.array([_moment(row.forecast_category_at) for row in deals], dtype=float),
        probability=np.array([_probability(row.rep_probability_value) for row in deals], dtype=float),
        probability_at=np.array([_moment(row.rep_probability_at) for row in deals], dtype=float),
    )
    return history, calls
