"""``/intake/<form>``: the public endpoint a website posts leads to (JSON or form-encoded, no login).

Every accepted post answers alike (a honeypot catch too, so a bot learns nothing); bad input is a
422 naming the field; too many posts from one address a 429 with Retry-After.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from dealflow.server.dependencies import WorkspaceDep, client_address
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.server.intake import posted_values, submit

router = APIRouter(prefix="/intake", tags=["intake"], responses=ERROR_RESPONSES)
FormKey = Annotated[str, Path(max_length=64, description="The form's key, as declared under leads.forms.")]


class IntakeReceived(BaseModel):
    """A post was received; ``message`` is the form's thank-you text."""

    received: bool = True
    message: str


@router.post(
    "/{form}", openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}
)
async def post_intake(form: FormKey, request: Request, workspace: WorkspaceDep) -> IntakeReceived:
    """Send a lead through a public form: it is checked, deduplicated and routed to an owner."""
    values = await posted_values(request)
    received = await submit(workspace, form, values, client_address(request))
    return IntakeReceived(message=received.form.thank_you)
