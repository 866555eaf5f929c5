"""Next-step compliance: does every open deal have a dated, owned next action that is not overdue?

Only the current next step of a deal is kept, so this is a snapshot of the deals open now; the
period does not apply. A stored next step always has an owner and a due date.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, case, func, select

from dealflow.analytics.scope import Rows, Scope
from dealflow.domain.deals import overdue
from dealflow.store import tables as t


class NextStepCompliance(BaseModel):
    """Open deals with a next step, with one not overdue (compliant), and buyer-confirmed."""

    model_config = ConfigDict(frozen=True)

    open_deals: int = 0
    with_next_step: int = 0
    overdue: int = 0
    compliant: int = 0
    buyer_confirmed: int = 0
    compliance: float | None = None
    buyer_confirmed_share: float | None = None


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def measure_next_steps(connection: Connection, scope: Scope) -> dict[Any, NextStepCompliance]:
    """The next-step compliance of each slice, over the deals open now."""
    d, n = t.deals, t.next_steps
    source, conditions, key = scope.frame(d, Rows(owner=d.c.owner, stage=d.c.stage, deal=d))
    source = source.outerjoin(n, n.c.deal_id == d.c.id)
    late = overdue(n.c.due, scope.now)
    compliant = ~late
    query = (
        select(
            key.label("k"),
            func.count(),
            func.count(n.c.deal_id),
            _count(late),
            _count(compliant),
            _count(compliant & n.c.buyer_confirmed),
        )
        .select_from(source)
        .where(d.c.process == scope.process.key, d.c.status == "open", *conditions)
        .group_by(*scope.groups(key))
    )
    found: dict[Any, NextStepCompliance] = {}
    for k, total, with_step, n_late, ok, confirmed in connection.execute(query):
        found[k] = NextStepCompliance(
            open_deals=int(total),
            with_next_step=int(with_step),
            overdue=int(n_late),
            compliant=int(ok),
            buyer_confirmed=int(confirmed),
            compliance=int(ok) / int(total) if total else None,
            buyer_confirmed_share=int(confirmed) / int(total) if total else None,
        )
    return found
