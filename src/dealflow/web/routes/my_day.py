"""My day and the inspection queue: what needs doing now, and the deals that need attention."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from dealflow.analytics.inspection import inspect_deals
from dealflow.domain.access import scope_of
from dealflow.domain.deals import overdue
from dealflow.server.dependencies import WorkspaceDep
from dealflow.services import access
from dealflow.store import cadence_tasks as tasks
from dealflow.store import listings
from dealflow.store.listings import Window
from dealflow.web.rendering import render
from dealflow.web.sessions import PageUser

router = APIRouter()
LIMIT = 500


def _day_end(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


@router.get("/day", response_class=HTMLResponse)
def my_day(request: Request, me: PageUser, workspace: WorkspaceDep) -> Response:
    """Your cadence touches and next steps due today, the overdue ones, open deals with no next step,
    and handoffs to accept."""
    scope = scope_of(me.actor)
    with workspace.unit() as uow:
        now = uow.clock()
        deals = listings.page_deals(uow.connection, scope, Window(limit=LIMIT), owner=me.actor.id, status="open")
        handoffs = listings.page_handoffs(
            uow.connection, scope, Window(limit=LIMIT), to_owner=me.actor.id, status="pending"
        )
        today = tasks.as_of(now)
        touches = tasks.due_tasks(uow.connection, owner=me.actor.id, today=today, limit=LIMIT)
        names = tasks.titles(uow.connection, [t.subject for t in touches])
    dated = [d for d in deals.rows if d.next_step_due is not None]
    return render(
        request, "day.html", me, now=now,
        overdue=[d for d in dated if overdue(d.next_step_due, now)],
        due_today=[d for d in dated if not overdue(d.next_step_due, now) and d.next_step_due < _day_end(now)],
        without=[d for d in deals.rows if d.next_step is None],
        handoffs=handoffs.rows, touches=touches, names=names, today=today,
    )  # fmt: skip


@router.get("/inspection", response_class=HTMLResponse)
def inspection(
    request: Request, me: PageUser, workspace: WorkspaceDep, owner: str | None = None, process: str | None = None
) -> Response:
    """The open deals that need attention, most severe first, each with its reasons (in your scope)."""
    chosen_owner, team = access.report_filters(me.actor, owner=(owner or None), team=None)
    with workspace.unit() as uow:
        found = inspect_deals(uow.connection, now=uow.clock(), owner=chosen_owner, team=team, process=process or None)
    return render(request, "inspection.html", me, findings=found, owner=owner or "")
