"""Evidence on a deal: activities, the next step, contacts, qualification, approvals and documents."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dealflow.api.routes.deals import DealId, change_deal
from dealflow.api.schemas.common import Page, row_dict
from dealflow.api.schemas.deals import (
    ActivityCreate,
    ActivityPublic,
    ApprovalCreate,
    ContactAttach,
    DealPublic,
    DocumentCreate,
    NextStepPublic,
    NextStepSet,
    QualificationCreate,
)
from dealflow.domain import commands as cmds
from dealflow.domain.evidence import EvidenceCommand
from dealflow.server.dependencies import CurrentUser, Paging, WorkspaceDep, Writer, WriterDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.services import access
from dealflow.services import deals as sd
from dealflow.services.lookups import load_deal
from dealflow.store import listings

router = APIRouter(prefix="/deals/{deal_id}", tags=["evidence"], responses=ERROR_RESPONSES)


def _capture(write: Writer, deal_id: str, command: EvidenceCommand, *, status_code: int = 200) -> Response:
    return change_deal(
        write,
        deal_id,
        lambda uow: sd.capture_evidence(uow=uow, actor_id=write.actor.id, deal_id=deal_id, command=command),
        status_code=status_code,
    )


@router.get("/activities")
def list_activities(
    deal_id: DealId, principal: CurrentUser, workspace: WorkspaceDep, window: Paging
) -> Page[ActivityPublic]:
    """The deal's calls, emails, meetings and notes, newest first."""
    with workspace.unit() as uow:
        access.deal(uow.connection, actor=principal.actor, deal_id=deal_id)
        found = listings.page_activities(uow.connection, window, deal_id=deal_id)
    return Page[ActivityPublic].of(found, window, lambda r: ActivityPublic.model_validate(row_dict(r)))


@router.post("/activities", status_code=201, response_model=DealPublic)
def log_activity(deal_id: DealId, body: ActivityCreate, write: WriterDep) -> Response:
    """Log a call, email, meeting or note on the deal."""
    command = cmds.LogActivity(kind=body.kind, summary=body.summary, at=body.at, contact_id=body.contact_id)
    return _capture(write, deal_id, command, status_code=201)


@router.get("/next-step")
def show_next_step(deal_id: DealId, principal: CurrentUser, workspace: WorkspaceDep) -> NextStepPublic | None:
    """The deal's next step (null when none is set)."""
    with workspace.unit() as uow:
        access.deal(uow.connection, actor=principal.actor, deal_id=deal_id)
        step = load_deal(uow.connection, deal_id=deal_id).next_step
    return None if step is None else NextStepPublic.model_validate(step.model_dump())


@router.put("/next-step", response_model=DealPublic)
def set_next_step(deal_id: DealId, body: NextStepSet, write: WriterDep) -> Response:
    """Set the deal's single next action: what, who, when, and whether the buyer confirmed it."""
    command = cmds.SetNextStep(
        action=body.action, owner=body.owner or write.actor.id, due=body.due, buyer_confirmed=body.buyer_confirmed
    )
    return _capture(write, deal_id, command)


@router.post("/contacts", response_model=DealPublic)
def attach_contact(deal_id: DealId, body: ContactAttach, write: WriterDep) -> Response:
    """Attach a contact to the deal in a role."""
    return _capture(write, deal_id, cmds.AttachContact(contact_id=body.contact_id, role=body.role))


@router.post("/qualification", response_model=DealPublic)
def score_qualification(deal_id: DealId, body: QualificationCreate, write: WriterDep) -> Response:
    """Confirm (or withdraw) one element of a qualification framework, with its evidence."""
    command = cmds.ScoreQualification(
        framework=body.framework, element=body.element, confirmed=body.confirmed, note=body.note
    )
    return _capture(write, deal_id, command)


@router.post("/approvals", response_model=DealPublic)
def record_approval(deal_id: DealId, body: ApprovalCreate, write: WriterDep) -> Response:
    """Record an approval on the deal."""
    return _capture(write, deal_id, cmds.RecordApproval(approval=body.approval, note=body.note))


@router.post("/documents", response_model=DealPublic)
def attach_document(deal_id: DealId, body: DocumentCreate, write: WriterDep) -> Response:
    """Attach a document or link to the deal."""
    return _capture(write, deal_id, cmds.AttachDocument(document=body.document, name=body.name, url=body.url))
