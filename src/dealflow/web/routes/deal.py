"""A deal's page: the gate of its stage as a checklist, the next step, the handoff context, the
timeline of every event; and the forms that capture its evidence."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dealflow.domain import commands as cmds
from dealflow.domain.events import deal_stream
from dealflow.domain.evidence import EvidenceCommand
from dealflow.domain.moves import next_stage
from dealflow.process.criteria import ACTIVITY_KINDS
from dealflow.server.dependencies import WorkspaceDep
from dealflow.services import access
from dealflow.services import deals as sd
from dealflow.services.lookups import load_deal
from dealflow.store import listings, queries
from dealflow.store.account_contacts import contacts_for
from dealflow.store.processes import load_process
from dealflow.web import forms
from dealflow.web.checklist import gate_items
from dealflow.web.evidence_forms import evidence_commands
from dealflow.web.rendering import render
from dealflow.web.routes.touches import next_touch_context
from dealflow.web.sessions import PageUser, PageWriter

router = APIRouter()
TIMELINE_LIMIT = 500


@router.get("/deals/{deal_id}", response_class=HTMLResponse)
def deal_page(deal_id: str, request: Request, me: PageUser, workspace: WorkspaceDep) -> Response:
    """Everything about one deal the reader may see."""
    with workspace.unit() as uow:
        connection = uow.connection
        access.deal(connection, actor=me.actor, deal_id=deal_id[:64])
        deal = load_deal(connection, deal_id=deal_id)
        process = load_process(connection, key=deal.process, version=deal.process_version)
        handoff = queries.get_handoff(connection, handoff_id=deal.handoff.id) if deal.handoff else None
        timeline = listings.recent_events(connection, stream=deal_stream(deal_id), limit=TIMELINE_LIMIT)
        contacts = queries.deal_contacts(connection, deal_id=deal_id)
        candidates = contacts_for(connection, account_id=deal.account_id)
        now = uow.clock()
        back = f"/deals/{deal_id}"
        touch = next_touch_context(connection, subject=deal_stream(deal_id), status=deal.status, back=back)
    ahead = next_stage(deal, process)
    return render(
        request, "deal.html", me, deal=deal, process=process, stage=process.stage(deal.stage), ahead=ahead,
        ahead_stage=process.stage(ahead) if ahead else None,
        items=gate_items(deal, process, ahead, now) if ahead else [], handoff=handoff,
        timeline=timeline, contacts=contacts, candidates=candidates, activity_kinds=ACTIVITY_KINDS,
        now=now, today=now.date(), **touch,
    )  # fmt: skip


def _capture(workspace: WorkspaceDep, me: PageWriter, deal_id: str, commands: list[EvidenceCommand]) -> Response:
    """Record the evidence on a deal the user may change, then show the deal again (run in the thread
    pool by the async routes that read the form, so the database work never blocks the event loop)."""
    for command in commands:
        with workspace.unit() as uow:
            sd.capture_evidence(uow=uow, actor_id=me.actor.id, deal_id=deal_id, command=command)
    return RedirectResponse(f"/deals/{deal_id}", status_code=303)


@router.post("/deals/{deal_id}/evidence")
async def capture(deal_id: str, request: Request, me: PageWriter, workspace: WorkspaceDep) -> Response:
    """Capture fields, the next step or an activity from the deal page's forms."""
    evidence = evidence_commands(await request.form(), me.actor.id)
    if not evidence:
        return RedirectResponse(f"/deals/{deal_id}", status_code=303)
    return await run_in_threadpool(_capture, workspace, me, deal_id, list(evidence))


@router.post("/deals/{deal_id}/next-step")
async def set_next_step(deal_id: str, request: Request, me: PageWriter, workspace: WorkspaceDep) -> Response:
    """Set the deal's single next action: what, when, whether the buyer confirmed it."""
    form = await request.form()
    command = cmds.SetNextStep(
        action=forms.required_text(form, "next_action"), owner=me.actor.id, due=forms.moment(form, "next_due"),
        buyer_confirmed=forms.checkbox(form, "next_confirmed"),
    )  # fmt: skip
    return await run_in_threadpool(_capture, workspace, me, deal_id, [command])
