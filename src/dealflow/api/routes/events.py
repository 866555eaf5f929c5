"""``/events``: the event log, whole (revops and admins) or one deal's (whoever may see the deal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dealflow.api.routes.deals import DealId
from dealflow.api.schemas.common import Page, row_dict
from dealflow.api.schemas.records import EventPublic
from dealflow.domain.events import deal_stream
from dealflow.server.dependencies import CurrentUser, Paging, WorkspaceDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.services import access
from dealflow.store import listings

router = APIRouter(tags=["events"], responses=ERROR_RESPONSES)


@router.get("/events")
def list_events(
    principal: CurrentUser,
    workspace: WorkspaceDep,
    window: Paging,
    after: Annotated[int, Query(ge=0, description="Only events numbered above this (to read on from).")] = 0,
    stream: Annotated[str | None, Query(max_length=80, description="Only this stream, like deal:D-12.")] = None,
    type: Annotated[str | None, Query(max_length=40, description="Only this event type.")] = None,
) -> Page[EventPublic]:
    """Every event in the order it was recorded (revops or admin)."""
    access.administer(principal.actor, "read the whole event log")
    with workspace.unit() as uow:
        found = listings.page_events(uow.connection, window, stream=stream, type_=type, after=after)
    return Page[EventPublic].of(found, window, lambda r: EventPublic.model_validate(row_dict(r)))


@router.get("/deals/{deal_id}/events", tags=["deals"])
def deal_events(deal_id: DealId, principal: CurrentUser, workspace: WorkspaceDep, window: Paging) -> Page[EventPublic]:
    """A deal's events, oldest first: every change made to it, by whom and when."""
    with workspace.unit() as uow:
        access.deal(uow.connection, actor=principal.actor, deal_id=deal_id)
        found = listings.page_events(uow.connection, window, stream=deal_stream(deal_id))
    return Page[EventPublic].of(found, window, lambda r: EventPublic.model_validate(row_dict(r)))
