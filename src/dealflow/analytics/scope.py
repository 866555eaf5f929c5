"""What a metrics run looks at: one process, an optional period, filters and one slicing dimension.

Every metric reads one kind of row (deals, stage stays, handoffs) and reaches the slicing
dimensions from it the same way: the owner of that row, the team of that owner (``users.team``),
a stage, and the deal's ``source``, ``segment`` and ``product``. :meth:`Scope.frame` adds the
joins a run needs to a query's FROM clause and gives back its filter conditions and the
expression to group by, so that a sliced run costs one pass, not one pass per slice value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, null, true

from dealflow.analytics.periods import Period
from dealflow.errors import InvalidInput
from dealflow.process.models import Process
from dealflow.store import tables as t

DIMENSIONS = ("owner", "team", "stage", "source", "segment", "product")
FILTERS = ("owner", "team", "source", "segment", "product")
_DEAL_COLUMNS = ("source", "segment", "product")


@dataclass(frozen=True)
class Rows:
    """How one kind of row reaches the dimensions: its owner, its stage, and its deal.

    ``deal`` is a deals table (or alias) already in the FROM clause; otherwise ``deal_id`` says
    how to join one when a deal column is filtered or sliced on."""

    owner: ColumnElement[Any]
    stage: ColumnElement[Any]
    deal: FromClause | None = None
    deal_id: ColumnElement[Any] | None = None


@dataclass(frozen=True)
class Scope:
    """One metrics run: the process, the period, the filters, the slicing dimension and the time."""

    process: Process
    period: Period | None
    now: datetime
    filters: Mapping[str, str] = field(default_factory=dict)
    by: str | None = None

    def __post_init__(self) -> None:
        if self.by is not None and self.by not in DIMENSIONS:
            raise InvalidInput(f"cannot slice by {self.by!r} (choose {', '.join(DIMENSIONS)})", field="by")
        for name in self.filters:
            if name not in FILTERS:
                raise InvalidInput(f"cannot filter on {name!r} (choose {', '.join(FILTERS)})", field=name)

    def unsliced(self) -> Scope:
        """The same run without slicing."""
        return replace(self, by=None)

    @property
    def whole(self) -> bool:
        """True for all time, every deal, no slicing: what the summaries of the stays answer."""
        return self.period is None and not self.filters and self.by is None

    @property
    def sliced(self) -> bool:
        """True when results are grouped by a dimension."""
        return self.by is not None

    def within(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        """``column`` falls in the period (always true without one)."""
        if self.period is None:
            return true()
        return and_(column >= self.period.start, column < self.period.end)

    def frame(self, source: FromClause, rows: Rows) -> tuple[FromClause, list[ColumnElement[bool]], ColumnElement[Any]]:
        """``source`` joined to what the filters and slicing need, the filter conditions, and the
        slicing key (NULL when not sliced)."""
        wanted = set(self.filters) | ({self.by} if self.by else set())
        team: ColumnElement[Any] | None = None
        if "team" in wanted:
            users = t.users.alias("owner_user")
            source = source.join(users, users.c.id == rows.owner, isouter=True)
            team = users.c.team
        deal = rows.deal
        if wanted & set(_DEAL_COLUMNS) and deal is None:
            assert rows.deal_id is not None
            deal = t.deals.alias("sliced_deal")
            source = source.join(deal, deal.c.id == rows.deal_id)

        def column(name: str) -> ColumnElement[Any]:
            if name == "owner":
                return rows.owner
            if name == "stage":
                return rows.stage
            if name == "team":
                assert team is not None
                return team
            assert deal is not None
            return deal.c[name]

        conditions = [column(name) == value for name, value in self.filters.items()]
        return source, conditions, column(self.by) if self.by else null()

    def groups(self, key: ColumnElement[Any]) -> list[ColumnElement[Any]]:
        """What to add to GROUP BY for the slicing key ``frame`` gave (nothing when not sliced)."""
        return [key] if self.sliced else []
