"""Handoff quality: how complete the context was, how often and how fast receivers accepted.

Handoffs count in the period when they were *created* in it; they slice by their receiver
(``to_owner``) and the stage they hand into (``to_stage``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, case, func, select

from dealflow.analytics.percentiles import elapsed_seconds, percentiles
from dealflow.analytics.scope import Rows, Scope
from dealflow.store import tables as t

HOUR = 3_600.0


class HandoffQuality(BaseModel):
    """Handoffs made, their mean context completeness, acceptance, speed and service level."""

    model_config = ConfigDict(frozen=True)

    handoffs: int = 0
    completeness_mean: float | None = None
    accepted: int = 0
    returned: int = 0
    pending: int = 0
    acceptance_rate: float | None = None
    median_hours_to_accept: float | None = None
    accepted_within_sla: int = 0
    within_sla_share: float | None = None
    pending_overdue: int = 0


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def measure_handoffs(connection: Connection, scope: Scope) -> dict[Any, HandoffQuality]:
    """The handoff quality of each slice."""
    h = t.handoffs
    deal = t.deals.alias("handoff_deal")
    rows = Rows(owner=h.c.to_owner, stage=h.c.to_stage, deal=deal)
    source, conditions, key = scope.frame(h.join(deal, deal.c.id == h.c.deal_id), rows)
    where = [deal.c.process == scope.process.key, scope.within(h.c.created_at), *conditions]
    accepted = h.c.status == "accepted"
    query = (
        select(
            key.label("k"),
            func.count(),
            func.avg(h.c.completeness),
            _count(accepted),
            _count(h.c.status == "returned"),
            _count(h.c.status == "pending"),
            _count(accepted & (h.c.resolved_at <= h.c.due_at)),
            _count((h.c.status == "pending") & (h.c.due_at < scope.now)),
        )
        .select_from(source)
        .where(*where)
        .group_by(*scope.groups(key))
    )
    wait = elapsed_seconds(connection, h.c.created_at, h.c.resolved_at)
    waits = select(key.label("k"), h.c.status.label("g"), wait.label("x")).select_from(source).where(*where, accepted)
    medians = {k: values[0] / HOUR for (k, _), values in percentiles(connection, waits, (0.5,)).items()}
    found: dict[Any, HandoffQuality] = {}
    for k, count, completeness, n_accepted, n_returned, n_pending, in_sla, overdue in connection.execute(query):
        resolved = int(n_accepted) + int(n_returned)
        found[k] = HandoffQuality(
            handoffs=int(count),
            completeness_mean=None if completeness is None else float(completeness),
            accepted=int(n_accepted),
            returned=int(n_returned),
            pending=int(n_pending),
            acceptance_rate=int(n_accepted) / resolved if resolved else None,
            median_hours_to_accept=medians.get(k),
            accepted_within_sla=int(in_sla),
            within_sla_share=int(in_sla) / int(n_accepted) if n_accepted else None,
            pending_overdue=int(overdue),
        )
    return found
