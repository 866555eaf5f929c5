"""``/deals``: listing, creating and showing deals, checking gates, moving, closing, reassigning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from dealflow.api.schemas.common import Page, row_dict
from dealflow.api.schemas.deals import (
    CloseCreate,
    DealCreate,
    DealDetail,
    DealPublic,
    DealSummary,
    FieldsUpdate,
    GatePublic,
    MoveCreate,
    ReassignCreate,
    ReopenCreate,
)
from dealflow.domain import commands as cmds
from dealflow.domain.access import scope_of
from dealflow.domain.deals import Deal
from dealflow.domain.moves import next_stage
from dealflow.server.dependencies import CurrentUser, Paging, WorkspaceDep, Writer, WriterDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.services import access
from dealflow.services import deals as sd
from dealflow.store import listings, queries
from dealflow.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/deals", tags=["deals"], responses=ERROR_RESPONSES)
DealId = Annotated[str, Path(max_length=64, description="Deal id, like D-12.")]
Filter = Annotated[str | None, Query(max_length=64)]


def change_deal(write: Writer, deal_id: str, act: Callable[[UnitOfWork], Deal], *, status_code: int = 200) -> Response:
    """Run a change on a deal the actor may change, answering with the deal as it then stands."""

    def run(uow: UnitOfWork) -> DealPublic:
        return DealPublic.of(act(uow))

    return write.run(run, status_code=status_code)


@router.get("")
def list_deals(
    principal: CurrentUser,
    workspace: WorkspaceDep,
    window: Paging,
    stage: Filter = None,
    owner: Filter = None,
    status: Literal["open", "won", "lost", "disqualified", "all"] = "open",
    process: Filter = None,
) -> Page[DealSummary]:
    """The deals you may see, newest first, with their next step."""
    scope = scope_of(principal.actor)
    with workspace.unit() as uow:
        found = listings.page_deals(
            uow.connection, scope, window, stage=stage, owner=owner, status=None if status == "all" else status,
            process=process,
        )  # fmt: skip
    return Page[DealSummary].of(found, window, lambda r: DealSummary.model_validate(row_dict(r)))


@router.post("", status_code=201, response_model=DealPublic)
def create_deal(body: DealCreate, write: WriterDep) -> Response:
    """Open a deal in a stage its process creates deals in (the first by default), yours or for
    someone you may assign deals to; elsewhere only by an override with a reason."""

    def act(uow: UnitOfWork) -> DealPublic:
        deal = sd.create_deal(
            uow=uow, actor_id=write.actor.id, process_key=body.process, title=body.title, owner=body.owner,
            account_id=body.account_id, stage=body.stage, fields=body.all_fields(), override=body.override,
            reason=body.reason,
        )  # fmt: skip
        return DealPublic.of(deal)

    return write.run(act, status_code=201)


@router.get("/{deal_id}")
def show_deal(deal_id: DealId, principal: CurrentUser, workspace: WorkspaceDep) -> DealDetail:
    """A deal with its evidence, the gate to its next stage, and its contacts."""
    with workspace.unit() as uow:
        access.deal(uow.connection, actor=principal.actor, deal_id=deal_id)
        deal, process, gate = sd.check_gate(uow=uow, deal_id=deal_id)
        contacts = queries.deal_contacts(uow.connection, deal_id=deal_id)
    ahead = next_stage(deal, process) if gate is not None else None
    return DealDetail.build(deal, GatePublic.of(deal, ahead, gate), contacts)


@router.patch("/{deal_id}", response_model=DealPublic)
def update_fields(deal_id: DealId, body: FieldsUpdate, write: WriterDep) -> Response:
    """Capture or change field values (null clears one)."""
    command = cmds.UpdateFields(fields=dict(body.fields))
    return change_deal(
        write,
        deal_id,
        lambda uow: sd.capture_evidence(uow=uow, actor_id=write.actor.id, deal_id=deal_id, command=command),
    )


@router.get("/{deal_id}/gate")
def check_gate(
    deal_id: DealId,
    principal: CurrentUser,
    workspace: WorkspaceDep,
    to: Annotated[str | None, Query(max_length=64, description="Target stage (default: the next one).")] = None,
) -> GatePublic:
    """What the deal still lacks to leave its stage, without moving it."""
    with workspace.unit() as uow:
        access.deal(uow.connection, actor=principal.actor, deal_id=deal_id)
        deal, process, result = sd.check_gate(uow=uow, deal_id=deal_id, to=to)
    if to is None and result is not None:
        to = next_stage(deal, process)
    return GatePublic.of(deal, to, result)


@router.post("/{deal_id}/moves", response_model=DealPublic)
def move_deal(deal_id: DealId, body: MoveCreate, write: WriterDep) -> Response:
    """Move the deal to a stage; refused with a 422 listing every unmet criterion unless the gate passes."""
    return change_deal(
        write, deal_id, lambda uow: sd.move_deal(
            uow=uow, actor_id=write.actor.id, deal_id=deal_id, to=body.to, reason=body.reason,
            override=body.override, handoff_to=body.handoff_to,
        ),
    )  # fmt: skip


@router.post("/{deal_id}/close", response_model=DealPublic)
def close_deal(deal_id: DealId, body: CloseCreate, write: WriterDep) -> Response:
    """End the deal as won, lost or disqualified."""
    return change_deal(
        write, deal_id, lambda uow: sd.close_deal(
            uow=uow, actor_id=write.actor.id, deal_id=deal_id, outcome=body.outcome, reason=body.reason,
            fields=dict(body.fields), handoff_to=body.handoff_to,
        ),
    )  # fmt: skip


@router.post("/{deal_id}/reopen", response_model=DealPublic)
def reopen_deal(deal_id: DealId, body: ReopenCreate, write: WriterDep) -> Response:
    """Open a won, lost or disqualified deal again (managers, revops and admins), with a reason."""
    return change_deal(
        write, deal_id, lambda uow: sd.reopen_deal(
            uow=uow, actor_id=write.actor.id, deal_id=deal_id, reason=body.reason, stage=body.stage
        ),
    )  # fmt: skip


@router.post("/{deal_id}/reassign", response_model=DealPublic)
def reassign_deal(deal_id: DealId, body: ReassignCreate, write: WriterDep) -> Response:
    """Give the deal to another owner (its owner or a manager may)."""

    def act(uow: UnitOfWork) -> Deal:
        return sd.reassign_deal(
            uow=uow, actor_id=write.actor.id, deal_id=deal_id, to_owner=body.to_owner, reason=body.reason
        )

    return change_deal(write, deal_id, act)
