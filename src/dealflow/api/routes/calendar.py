"""``/calendar/<token>.ics``: a user's next steps as an iCalendar feed, for calendar apps.

No login: the private token in the URL (``dealflow calendar url``) is the key, as calendar apps
fetch feeds without cookies or headers. An unknown or revoked token answers 404.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from dealflow.server.dependencies import WorkspaceDep
from dealflow.services import calendar

router = APIRouter(tags=["calendar"])
MEDIA_TYPE = "text/calendar; charset=utf-8"


@router.get(
    "/calendar/{token}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "The feed"}, 404: {"description": "No feed"}},
)
def calendar_feed(token: str, workspace: WorkspaceDep) -> Response:
    """The feed's owner's next steps on open deals, as VEVENTs with stable UIDs."""
    with workspace.unit() as uow:
        user_id = calendar.feed_owner(uow.connection, token)
        if user_id is None:
            return Response("no such calendar feed (revoked, or never made)\n", 404, media_type="text/plain")
        body = calendar.build_calendar(uow.connection, user_id, workspace.clock())
    headers = {"Cache-Control": "private, max-age=300"}
    return Response(body, media_type=MEDIA_TYPE, headers=headers)
