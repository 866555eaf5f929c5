"""Paged, filtered lists for the API and the pages, each limited to what the reader may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, select

from dealflow.domain.access import Scope
from dealflow.store import tables as t
from dealflow.store.visibility import deals_visible, owned_by

_DEAL_COLUMNS = (
    "id",
    "title",
    "process",
    "stage",
    "status",
    "owner",
    "amount",
    "close_date",
    "stage_entered_at",
    "version",
)


@dataclass(frozen=True)
class Window:
    """Which slice of a list to return."""

    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Page:
    """One slice of a list and the size of the whole list."""

    rows: Sequence[Any]
    count: int


def _page(connection: Connection, query: Select[Any], window: Window) -> Page:
    count = connection.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar()
    rows = connection.execute(query.limit(window.limit).offset(window.offset)).all()
    return Page(rows, int(count or 0))


def _where(query: Select[Any], *conditions: tuple[ColumnElement[Any], object]) -> Select[Any]:
    for column, value in conditions:
        if value is not None:
            query = query.where(column == value)
    return query


def page_deals(
    connection: Connection,
    scope: Scope,
    window: Window,
    *,
    stage: str | None = None,
    owner: str | None = None,
    status: str | None = None,
    process: str | None = None,
) -> Page:
    """Deals in scope matching the filters, newest first, with their next step."""
    d, n = t.deals, t.next_steps
    columns = [d.c[name] for name in _DEAL_COLUMNS]
    step = [n.c.action.label("next_step"), n.c.due.label("next_step_due"), n.c.buyer_confirmed]
    query: Select[Any] = (
        select(*columns, *step)
        .outerjoin(n, n.c.deal_id == d.c.id)
        .where(deals_visible(scope))
        .order_by(d.c.number.desc().nulls_last(), d.c.id)
    )
    query = _where(query, (d.c.stage, stage), (d.c.owner, owner), (d.c.status, status), (d.c.process, process))
    return _page(connection, query, window)


@dataclass(frozen=True)
class Board:
    """The open deals of a board: the newest few of each stage, and every stage's count and amount."""

    rows: Sequence[Any]
    totals: dict[str, tuple[int, Decimal]]  # stage -> (open deals, their total amount)

    @property
    def count(self) -> int:
        """How many open deals the board stands for."""
        return sum(count for count, _ in self.totals.values())


def board_deals(
    connection: Connection, scope: Scope, *, process: str, per_stage: int, owner: str | None = None
) -> Board:
    """The newest ``per_stage`` open deals in scope of each stage of ``process``, with their next step;
    and, over all of them, each stage's count and amount (so a column's totals never depend on how
    many cards it shows)."""
    d, n = t.deals, t.next_steps
    where = [deals_visible(scope), d.c.status == "open", d.c.process == process]
    if owner is not None:
        where.append(d.c.owner == owner)
    newest = (d.c.number.desc().nulls_last(), d.c.id)
    ranked = select(d.c.id, func.row_number().over(partition_by=d.c.stage, order_by=newest).label("rank"))
    shown = ranked.where(*where).subquery()
    step = [n.c.action.label("next_step"), n.c.due.label("next_step_due"), n.c.buyer_confirmed]
    query = (
        select(*(d.c[name] for name in _DEAL_COLUMNS), *step)
        .join(shown, shown.c.id == d.c.id)
        .outerjoin(n, n.c.deal_id == d.c.id)
        .where(shown.c.rank <= per_stage)
        .order_by(*newest)
    )
    sums = select(d.c.stage, func.count(), func.coalesce(func.sum(d.c.amount), 0)).where(*where).group_by(d.c.stage)
    totals = {stage: (int(count), Decimal(str(amount))) for stage, count, amount in connection.execute(sums)}
    return Board(connection.execute(query).all(), totals)


LEAD_ORDERS = ("newest", "score", "fit", "intent", "learned")


def page_leads(
    connection: Connection,
    scope: Scope,
    window: Window,
    *,
    status: str | None = None,
    owner: str | None = None,
    order: str = "newest",
) -> Page:
    """Leads in scope, newest first or the highest score first (fit and intent, or one of them)."""
    lead = t.leads
    query: Select[Any] = select(lead).where(owned_by(scope, lead.c.owner))
    ranks = {
        "score": lead.c.score,
        "fit": lead.c.fit_score,
        "intent": lead.c.intent_score,
        "learned": lead.c.learned_score,
    }
    if order in ranks:
        query = query.order_by(ranks[order].desc().nulls_last())
    query = query.order_by(lead.c.number.desc().nulls_last(), lead.c.id)
    return _page(connection, _where(query, (lead.c.status, status), (lead.c.owner, owner)), window)


def page_handoffs(
    connection: Connection, scope: Scope, window: Window, *, to_owner: str | None = None, status: str | None = None
) -> Page:
    """Handoffs of deals in scope, the oldest deadline first, with the deal's title."""
    h, d = t.handoffs, t.deals
    query = (
        select(h, d.c.title)
        .join(d, d.c.id == h.c.deal_id)
        .where(deals_visible(scope) | owned_by(scope, h.c.to_owner))
        .order_by(h.c.due_at, h.c.id)
    )
    return _page(connection, _where(query, (h.c.to_owner, to_owner), (h.c.status, status)), window)


def page_activities(connection: Connection, window: Window, *, deal_id: str) -> Page:
    """A deal's activities, newest first."""
    a = t.activities
    query = select(a).where(a.c.deal_id == deal_id).order_by(a.c.at.desc(), a.c.seq.desc())
    return _page(connection, query, window)


def recent_events(connection: Connection, *, stream: str, limit: int) -> Sequence[Any]:
    """The newest ``limit`` events of a stream, newest first (no count: a timeline needs none)."""
    e = t.events
    query = select(e).where(e.c.stream == stream).order_by(e.c.seq.desc()).limit(limit)
    return connection.execute(query).all()


def page_events(
    connection: Connection, window: Window, *, stream: str | None = None, type_: str | None = None, after: int = 0
) -> Page:
    """Events in the order they were recorded, after the event numbered ``after``."""
    e = t.events
    query = select(e).where(e.c.seq > after).order_by(e.c.seq)
    return _page(connection, _where(query, (e.c.stream, stream), (e.c.type, type_)), window)
