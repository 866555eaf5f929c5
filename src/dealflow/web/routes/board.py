"""The pipeline board: a column per stage with counts and amounts, deals dragged between columns.

A drop posts the move; when the gate refuses, the card goes back and a panel lists each unmet
criterion with inputs for the evidence that can be supplied in place, so the move can be retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from dealflow.domain import access as rules
from dealflow.domain.access import Ownership, scope_of
from dealflow.domain.decisions import Actor
from dealflow.errors import Forbidden, GateRefused, InvalidInput, NotFound, Refused
from dealflow.process.criteria import ACTIVITY_KINDS
from dealflow.server.dependencies import WorkspaceDep
from dealflow.services import access
from dealflow.services import deals as sd
from dealflow.services.auth import Principal
from dealflow.services.lookups import load_deal
from dealflow.store import listings, queries
from dealflow.store.account_contacts import contacts_for
from dealflow.store.processes import default_process_key, load_process
from dealflow.web import forms
from dealflow.web.checklist import gate_items
from dealflow.web.evidence_forms import evidence_commands
from dealflow.web.rendering import is_htmx, render
from dealflow.web.sessions import PageUser, PageWriter

router = APIRouter()
# Cards shown per column: its newest deals. The column's count and amount cover all of its deals.
CARDS_PER_STAGE = 50


@dataclass
class Column:
    """One stage of the board: how many open deals it holds and their amount, the newest as cards."""

    key: str
    name: str
    sla: str
    count: int = 0
    amount: Decimal = Decimal(0)
    cards: list[Any] = field(default_factory=list)


def visible_users(connection: Connection, actor: Actor) -> list[Any]:
    """The users whose deals the actor may see, for the owner filter."""
    users = queries.list_users(connection)
    return [u for u in users if rules.may_see(actor, Ownership(record="", owner=u.id, owner_team=u.team)) is None]


def check_owner_filter(connection: Connection, actor: Actor, owner: str) -> None:
    """Refuse filtering the board by an owner whose deals the actor may not see."""
    row = queries.get_user(connection, user_id=owner)
    if row is None:
        raise NotFound(f"no user '{owner}'")
    refusal = rules.may_see(actor, Ownership(record=f"{owner}'s pipeline", owner=owner, owner_team=row.team))
    if refusal:
        raise Forbidden(refusal)


@router.get("/board", response_class=HTMLResponse)
def board(
    request: Request, me: PageUser, workspace: WorkspaceDep, process: str | None = None, owner: str | None = None
) -> Response:
    """The board of one process (the workspace's default one unless named), filtered by owner."""
    owner = owner or None
    with workspace.unit() as uow:
        connection = uow.connection
        installed = queries.list_processes(connection)
        if not installed:
            raise NotFound("no process is installed yet: install one with `dealflow process install`")
        key = (process or default_process_key(connection) or installed[0].key)[:64]
        # The newest version is already known from the list, so its parsed form comes from the cache.
        newest = next((row.version for row in installed if row.key == key), None)
        chosen = load_process(connection, key=key, version=newest)
        if owner is not None:
            check_owner_filter(connection, me.actor, owner[:64])
        found = listings.board_deals(
            connection, scope_of(me.actor), process=chosen.key, per_stage=CARDS_PER_STAGE, owner=owner
        )
        users = visible_users(connection, me.actor)
        now = uow.clock()
    columns = {
        s.key: Column(s.key, s.name, _sla(s.sla), *found.totals.get(s.key, (0, Decimal(0)))) for s in chosen.stages
    }
    for row in found.rows:
        if row.stage in columns:
            columns[row.stage].cards.append(row)
    return render(
        request, "board.html", me, process=chosen, processes=installed, columns=list(columns.values()),
        owner=owner, users=users, total=found.count, limit=CARDS_PER_STAGE, now=now,
    )  # fmt: skip


def _sla(value: Any) -> str:
    if value is None:
        return ""
    days = value.total_seconds() / 86400
    return f"{days:g}d" if days >= 1 else f"{value.total_seconds() / 3600:g}h"


@router.post("/deals/{deal_id}/move", response_class=HTMLResponse)
async def move(deal_id: str, request: Request, me: PageWriter, workspace: WorkspaceDep) -> Response:
    """Record the evidence filled in (if any) and move the deal; a refusal answers with the panel."""
    form = await request.form()
    # The gate, the move and the panel are database work: in the thread pool, never on the event loop.
    return await run_in_threadpool(_move, request, me, workspace, deal_id, form)


def _move(request: Request, me: Principal, workspace: WorkspaceDep, deal_id: str, form: FormData) -> Response:
    to = forms.required_text(form, "to", max_length=64)
    reason = forms.text(form, "reason", required=False)
    try:
        for command in evidence_commands(form, me.actor.id):
            with workspace.unit() as uow:
                sd.capture_evidence(uow=uow, actor_id=me.actor.id, deal_id=deal_id, command=command)
    except InvalidInput as exc:
        return _bad_evidence(request, me, deal_id, to, exc)
    try:
        with workspace.unit() as uow:
            sd.move_deal(uow=uow, actor_id=me.actor.id, deal_id=deal_id, to=to, reason=reason)
    except Refused as exc:
        return _refused(request, me, deal_id, to, exc)
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Refresh": "true"})
    return RedirectResponse(f"/deals/{deal_id}", status_code=303)


def _bad_evidence(request: Request, me: Principal, deal_id: str, to: str, exc: InvalidInput) -> Response:
    """The panel again, the value that was refused named first, so the rest of the form is not lost."""
    with request.app.state.workspace.unit() as uow:
        access.deal(uow.connection, actor=me.actor, deal_id=deal_id[:64], change=True)
        _deal, _process, gate = sd.check_gate(uow=uow, deal_id=deal_id, to=to)
    problem = f"{exc.field}: {exc.message}" if exc.field else exc.message
    return _refused(request, me, deal_id, to, GateRefused(problem, [str(u) for u in gate.unmet] if gate else []))


def _refused(request: Request, me: Principal, deal_id: str, to: str, exc: Refused) -> Response:
    """The missing-evidence panel: each unmet criterion, with the inputs to supply it."""
    workspace = request.app.state.workspace
    with workspace.unit() as uow:
        deal = load_deal(uow.connection, deal_id=deal_id)
        process = load_process(uow.connection, key=deal.process, version=deal.process_version)
        contacts = contacts_for(uow.connection, account_id=deal.account_id)
        now = uow.clock()
    items = [i for i in gate_items(deal, process, to, now) if not i.met] if isinstance(exc, GateRefused) else []
    stage = process.stage(to)
    return render(
        request, "fragments/move_panel.html", me, status_code=422, deal=deal, to=to,
        to_name=stage.name if stage else to, items=items, message=exc.message, reasons=list(exc.reasons),
        gate=isinstance(exc, GateRefused), activity_kinds=ACTIVITY_KINDS, candidates=contacts,
    )  # fmt: skip
