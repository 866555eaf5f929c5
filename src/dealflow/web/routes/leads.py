"""The leads: a list sorted by score, and a lead's page with its scorecard, scores explained, history
and the actions an SDR takes (qualify, recycle to nurture, disqualify, convert through the gate)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from dealflow.analytics.lead_model import describe
from dealflow.domain.access import scope_of
from dealflow.domain.fields import parse_date
from dealflow.errors import InvalidInput, Refused
from dealflow.server.dependencies import WorkspaceDep
from dealflow.services import access
from dealflow.services import leads as sl
from dealflow.services.auth import Principal
from dealflow.store import cadence_tasks, listings
from dealflow.store.listings import LEAD_ORDERS, Window
from dealflow.web import forms
from dealflow.web.rendering import render
from dealflow.web.routes.board import check_owner_filter, visible_users
from dealflow.web.routes.touches import next_touch_context
from dealflow.web.sessions import PageUser, PageWriter

router = APIRouter()
LIST_LIMIT = 200
TIMELINE_LIMIT = 200
STATUSES = ("open", "nurture", "converted", "disqualified", "all")


@router.get("/leads", response_class=HTMLResponse)
def lead_list(
    request: Request,
    me: PageUser,
    workspace: WorkspaceDep,
    status: str = "open",
    owner: str | None = None,
    order: str = "score",
) -> Response:
    """The leads the reader may see, the best scored first (or newest, or by one score)."""
    if status not in STATUSES:
        raise InvalidInput(f"must be one of: {', '.join(STATUSES)}", field="status")
    if order not in LEAD_ORDERS:
        raise InvalidInput(f"must be one of: {', '.join(LEAD_ORDERS)}", field="order")
    owner = owner[:64] if owner else None
    with workspace.unit() as uow:
        if owner is not None:
            check_owner_filter(uow.connection, me.actor, owner)
        found = listings.page_leads(
            uow.connection, scope_of(me.actor), Window(limit=LIST_LIMIT),
            status=None if status == "all" else status, owner=owner, order=order,
        )  # fmt: skip
        users = visible_users(uow.connection, me.actor)
        touches = cadence_tasks.next_touches(uow.connection, [f"lead:{row.id}" for row in found.rows])
        today = uow.clock().date()
    return render(
        request, "leads.html", me, leads=found.rows, touches=touches, today=today, count=found.count,
        limit=LIST_LIMIT, status=status, statuses=STATUSES, owner=owner, users=users, order=order, orders=LEAD_ORDERS,
    )  # fmt: skip


def _page(request: Request, me: Principal, lead_id: str, status_code: int = 200, **extra: Any) -> Response:
    """The lead's page (with a refusal to show, when an action was refused)."""
    with request.app.state.workspace.unit() as uow:
        access.lead(uow.connection, actor=me.actor, lead_id=lead_id[:64])
        view = sl.view_lead(uow=uow, lead_id=lead_id)
        timeline = listings.recent_events(uow.connection, stream=f"lead:{lead_id}", limit=TIMELINE_LIMIT)
        back = f"/leads/{lead_id}"
        touch = next_touch_context(uow.connection, subject=f"lead:{lead_id}", status=view.lead.status, back=back)
        today = uow.clock().date()
    process = view.process
    overrides = (process.leads.conversion.override_roles or process.overrides.roles) if process else ()
    context: dict[str, Any] = {"refusal": None, "refusal_reasons": []} | extra
    return render(
        request, "lead.html", me, status_code=status_code, view=view, lead=view.lead, process=process,
        framework=view.framework, score=view.score, gate=view.gate, timeline=timeline, describe=describe,
        may_override=me.actor.holds(*overrides), today=today, **touch, **context,
    )  # fmt: skip


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
def lead_page(lead_id: str, request: Request, me: PageUser) -> Response:
    """Everything about one lead the reader may see."""
    return _page(request, me, lead_id)


def _act(request: Request, me: Principal, lead_id: str, action: Any) -> Response:
    """Run an action on a lead the user may change; a refusal shows the page again with its reasons."""
    try:
        with request.app.state.workspace.unit() as uow:
            access.lead(uow.connection, actor=me.actor, lead_id=lead_id[:64], change=True)
            target = action(uow)
    except Refused as exc:
        return _page(request, me, lead_id, status_code=422, refusal=exc.message, refusal_reasons=exc.reasons)
    return RedirectResponse(target or f"/leads/{lead_id}", status_code=303)


async def _form_action(request: Request, me: Principal, lead_id: str, build: Any) -> Response:
    form = await request.form()
    action = build(form)  # reading the form raises InvalidInput before anything is written
    return await run_in_threadpool(_act, request, me, lead_id, action)


@router.post("/leads/{lead_id}/scorecard")
async def qualify(lead_id: str, request: Request, me: PageWriter) -> Response:
    """Confirm or withdraw one element of the scorecard, with a note."""

    def build(form: FormData) -> Any:
        element = forms.required_text(form, "element", max_length=64)
        confirmed = form.get("confirmed") != "no"
        note = forms.text(form, "note", max_length=2000, required=False) or ""
        return lambda uow: sl.qualify(
            uow=uow, actor_id=me.actor.id, lead_id=lead_id, answers={element: (confirmed, note)}
        )

    return await _form_action(request, me, lead_id, build)


@router.post("/leads/{lead_id}/recycle")
async def recycle(lead_id: str, request: Request, me: PageWriter) -> Response:
    """Park the lead in nurture until a date."""

    def build(form: FormData) -> Any:
        reason = forms.required_text(form, "reason", max_length=200)
        until = parse_date("until", forms.required_text(form, "until", max_length=10))
        return lambda uow: sl.recycle(uow=uow, actor_id=me.actor.id, lead_id=lead_id, reason=reason, until=until)

    return await _form_action(request, me, lead_id, build)


@router.post("/leads/{lead_id}/disqualify")
async def disqualify(lead_id: str, request: Request, me: PageWriter) -> Response:
    """Close the lead as disqualified with a reason code."""

    def build(form: FormData) -> Any:
        reason = forms.text(form, "reason", max_length=64, required=False)
        return lambda uow: sl.disqualify(uow=uow, actor_id=me.actor.id, lead_id=lead_id, reason=reason)

    return await _form_action(request, me, lead_id, build)


@router.post("/leads/{lead_id}/convert")
async def convert(lead_id: str, request: Request, me: PageWriter) -> Response:
    """Turn the lead into a deal through the conversion gate (or past it, overridden with a reason)."""

    def build(form: FormData) -> Any:
        title = forms.text(form, "title", max_length=forms.LONG, required=False)
        override = forms.checkbox(form, "override")
        reason = forms.text(form, "override_reason", max_length=2000, required=False)

        def act(uow: Any) -> str:
            deal_id = sl.convert(
                uow=uow, actor_id=me.actor.id, lead_id=lead_id, title=title, override=override, reason=reason
            )
            return f"/deals/{deal_id}"

        return act

    return await _form_action(request, me, lead_id, build)
