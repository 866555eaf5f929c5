"""``/handoffs``: the inbox of deals handed between roles, accepting them or sending them back."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from dealflow.api.schemas.common import Page, row_dict
from dealflow.api.schemas.deals import DealPublic
from dealflow.api.schemas.records import HandoffPublic, HandoffReturn
from dealflow.domain.access import scope_of
from dealflow.errors import NotFound
from dealflow.server.dependencies import CurrentUser, Paging, WorkspaceDep, WriterDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.services import access
from dealflow.services import deals as sd
from dealflow.store import listings, queries
from dealflow.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/handoffs", tags=["handoffs"], responses=ERROR_RESPONSES)
HandoffId = Annotated[str, Path(max_length=80, description="Handoff id, like D-12-H5.")]


@router.get("")
def list_handoffs(
    principal: CurrentUser,
    workspace: WorkspaceDep,
    window: Paging,
    to: Annotated[str | None, Query(max_length=64, description="Only handoffs to this user.")] = None,
    status: Literal["pending", "accepted", "returned", "all"] = "pending",
) -> Page[HandoffPublic]:
    """Handoffs of the deals you may see (and those handed to you), the oldest deadline first."""
    scope = scope_of(principal.actor)
    with workspace.unit() as uow:
        found = listings.page_handoffs(
            uow.connection, scope, window, to_owner=to, status=None if status == "all" else status
        )
    return Page[HandoffPublic].of(found, window, lambda r: HandoffPublic.model_validate(row_dict(r)))


@router.get("/{handoff_id}")
def show_handoff(handoff_id: HandoffId, principal: CurrentUser, workspace: WorkspaceDep) -> HandoffPublic:
    """A handoff with the context it carries."""
    with workspace.unit() as uow:
        access.handoff(uow.connection, actor=principal.actor, handoff_id=handoff_id)
        row = queries.get_handoff(uow.connection, handoff_id=handoff_id)
    if row is None:
        raise NotFound(f"no handoff '{handoff_id}'")
    return HandoffPublic.model_validate(row_dict(row))


@router.post("/{handoff_id}/accept", response_model=DealPublic)
def accept_handoff(handoff_id: HandoffId, write: WriterDep) -> Response:
    """Accept a handoff addressed to you: you become the deal's owner."""

    def act(uow: UnitOfWork) -> DealPublic:
        return DealPublic.of(sd.accept_handoff(uow=uow, actor_id=write.actor.id, handoff_id=handoff_id))

    return write.run(act)


@router.post("/{handoff_id}/return", response_model=DealPublic)
def return_handoff(handoff_id: HandoffId, body: HandoffReturn, write: WriterDep) -> Response:
    """Send a handoff back, saying why: the deal returns to its sender and previous stage."""

    def act(uow: UnitOfWork) -> DealPublic:
        deal = sd.return_handoff(uow=uow, actor_id=write.actor.id, handoff_id=handoff_id, reason=body.reason)
        return DealPublic.of(deal)

    return write.run(act)
