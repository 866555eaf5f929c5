"""``/leads``: capturing leads, their scorecard and scores, nurture, disqualifying them with a reason,
converting them into deals through the conversion gate."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from dealflow.api.schemas.common import Page, row_dict
from dealflow.api.schemas.deals import DealPublic
from dealflow.api.schemas.lead_scores import LeadDetail, LeadRecycle, ScorecardUpdate
from dealflow.api.schemas.records import LeadConvert, LeadCreate, LeadDisqualify, LeadPublic
from dealflow.domain.access import scope_of
from dealflow.errors import NotFound
from dealflow.server.dependencies import CurrentUser, Paging, WorkspaceDep, WriterDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.services import access
from dealflow.services import leads as sl
from dealflow.services.lookups import load_deal
from dealflow.store import listings, queries
from dealflow.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/leads", tags=["leads"], responses=ERROR_RESPONSES)
LeadId = Annotated[str, Path(max_length=64, description="Lead id, like L-3.")]


def _lead(uow: UnitOfWork, lead_id: str) -> LeadPublic:
    row = queries.get_lead(uow.connection, lead_id=lead_id)
    if row is None:
        raise NotFound(f"no lead '{lead_id}'")
    return LeadPublic.model_validate(row_dict(row))


@router.get("")
def list_leads(
    principal: CurrentUser,
    workspace: WorkspaceDep,
    window: Paging,
    status: Literal["open", "nurture", "converted", "disqualified", "all"] = "open",
    owner: Annotated[str | None, Query(max_length=64)] = None,
    order: Literal["newest", "score", "fit", "intent", "learned"] = "newest",
) -> Page[LeadPublic]:
    """The leads you may see, newest first (or the highest score first)."""
    scope = scope_of(principal.actor)
    with workspace.unit() as uow:
        found = listings.page_leads(
            uow.connection, scope, window, status=None if status == "all" else status, owner=owner, order=order
        )
    return Page[LeadPublic].of(found, window, lambda r: LeadPublic.model_validate(row_dict(r)))


@router.post("", status_code=201, response_model=LeadPublic)
def create_lead(body: LeadCreate, write: WriterDep) -> Response:
    """Capture a lead (yours, or for someone in your team)."""

    def act(uow: UnitOfWork) -> LeadPublic:
        lead_id = sl.capture_lead(
            uow=uow, actor_id=write.actor.id, name=body.name, company=body.company, email=body.email,
            source=body.source, owner=body.owner, process_key=body.process,
            fields={k: str(v) for k, v in (body.fields or {}).items() if v is not None}, route=body.route,
        )  # fmt: skip
        return _lead(uow, lead_id)

    return write.run(act, status_code=201)


def _detail(uow: UnitOfWork, lead_id: str) -> LeadDetail:
    row = queries.get_lead(uow.connection, lead_id=lead_id)
    if row is None:
        raise NotFound(f"no lead '{lead_id}'")
    return LeadDetail.of(row_dict(row), sl.view_lead(uow=uow, lead_id=lead_id))


@router.get("/{lead_id}")
def show_lead(lead_id: LeadId, principal: CurrentUser, workspace: WorkspaceDep) -> LeadDetail:
    """One lead with its answers, scorecard, fit/intent/learned scores and what conversion still needs."""
    with workspace.unit() as uow:
        access.lead(uow.connection, actor=principal.actor, lead_id=lead_id)
        return _detail(uow, lead_id)


@router.post("/{lead_id}/scorecard", response_model=LeadDetail)
def score_lead(lead_id: LeadId, body: ScorecardUpdate, write: WriterDep) -> Response:
    """Confirm (or withdraw) one element of the lead's qualification scorecard; the lead is scored again."""

    def act(uow: UnitOfWork) -> LeadDetail:
        answers = {body.element: (body.confirmed, body.note)}
        sl.qualify(uow=uow, actor_id=write.actor.id, lead_id=lead_id, answers=answers)
        return _detail(uow, lead_id)

    return write.run(act)


@router.post("/{lead_id}/recycle", response_model=LeadDetail)
def recycle_lead(lead_id: LeadId, body: LeadRecycle, write: WriterDep) -> Response:
    """Park the lead in nurture until a date; it reopens by itself then."""

    def act(uow: UnitOfWork) -> LeadDetail:
        sl.recycle(uow=uow, actor_id=write.actor.id, lead_id=lead_id, reason=body.reason, until=body.until)
        return _detail(uow, lead_id)

    return write.run(act)


@router.post("/{lead_id}/disqualify", response_model=LeadPublic)
def disqualify_lead(lead_id: LeadId, body: LeadDisqualify, write: WriterDep) -> Response:
    """Close a lead as disqualified, with a reason code of the process."""

    def act(uow: UnitOfWork) -> LeadPublic:
        sl.disqualify(uow=uow, actor_id=write.actor.id, lead_id=lead_id, reason=body.reason, process_key=body.process)
        return _lead(uow, lead_id)

    return write.run(act)


@router.post("/{lead_id}/convert", status_code=201, response_model=DealPublic)
def convert_lead(lead_id: LeadId, body: LeadConvert, write: WriterDep) -> Response:
    """Turn a lead into a deal through the conversion gate (a 422 lists what is missing), owned by the
    lead's owner, with its answers and scorecard carried into the deal."""

    def act(uow: UnitOfWork) -> DealPublic:
        deal_id = sl.convert(
            uow=uow, actor_id=write.actor.id, lead_id=lead_id, process_key=body.process, title=body.title,
            override=body.override, reason=body.reason,
        )  # fmt: skip
        return DealPublic.of(load_deal(uow.connection, deal_id=deal_id))

    return write.run(act, status_code=201)
