"""The handoff inbox: deals handed to you (or your team), their context, accepting or sending back."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dealflow.domain.access import scope_of
from dealflow.server.dependencies import WorkspaceDep
from dealflow.services import access
from dealflow.services import deals as sd
from dealflow.store import listings
from dealflow.store.listings import Window
from dealflow.web import forms
from dealflow.web.rendering import render
from dealflow.web.sessions import PageUser, PageWriter

router = APIRouter()
INBOX_LIMIT = 200


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, me: PageUser, workspace: WorkspaceDep) -> Response:
    """Pending handoffs to you first, then the others you may see, the oldest deadline first."""
    with workspace.unit() as uow:
        found = listings.page_handoffs(uow.connection, scope_of(me.actor), Window(limit=INBOX_LIMIT), status="pending")
        now = uow.clock()
    mine = [h for h in found.rows if h.to_owner == me.actor.id]
    others = [h for h in found.rows if h.to_owner != me.actor.id]
    return render(request, "inbox.html", me, mine=mine, others=others, now=now)


@router.post("/handoffs/{handoff_id}/accept")
def accept(handoff_id: str, me: PageWriter, workspace: WorkspaceDep) -> Response:
    """Accept a handoff addressed to you: you become the deal's owner."""
    with workspace.unit() as uow:
        deal_id = access.handoff(uow.connection, actor=me.actor, handoff_id=handoff_id[:80])
        sd.accept_handoff(uow=uow, actor_id=me.actor.id, handoff_id=handoff_id)
    return RedirectResponse(f"/deals/{deal_id}", status_code=303)


@router.post("/handoffs/{handoff_id}/return")
async def send_back(handoff_id: str, request: Request, me: PageWriter, workspace: WorkspaceDep) -> Response:
    """Send a handoff back with the reason: the deal returns to its sender."""
    reason = forms.required_text(await request.form(), "reason", max_length=forms.SHORT)

    def send() -> None:  # in the thread pool: the database work never blocks the event loop
        with workspace.unit() as uow:
            sd.return_handoff(uow=uow, actor_id=me.actor.id, handoff_id=handoff_id, reason=reason)

    await run_in_threadpool(send)
    return RedirectResponse("/inbox", status_code=303)
