"""``/intake/<form>``: the public endpoint a website posts leads to (JSON or form-encoded, no login).

Every accepted post answers alike (a honeypot catch too, so a bot learns nothing); bad input is a
422 naming the field; too many posts from one address a 429 with Retry-After.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from dealflow.api.dependencies import Workspace, WorkspaceDep, client_address
from dealflow.api.errors import ERROR_RESPONSES
from dealflow.errors import InvalidInput
from dealflow.services import intake

router = APIRouter(prefix="/intake", tags=["intake"], responses=ERROR_RESPONSES)
FormKey = Annotated[str, Path(max_length=64, description="The form's key, as declared under leads.forms.")]
MAX_BODY = 256 * 1024


class IntakeReceived(BaseModel):
    """A post was received; ``message`` is the form's thank-you text."""

    received: bool = True
    message: str


async def posted_values(request: Request) -> dict[str, Any]:
    """The fields of a post, sent as JSON or as a form (url-encoded or multipart)."""
    kind = request.headers.get("content-type", "")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidInput(f"the post is too large ({len(body):,} bytes; at most {MAX_BODY:,})", field="body")
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/")):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        values = json.loads(body or b"{}")
    except ValueError:
        raise InvalidInput("not JSON: send a JSON object or a form", field="body") from None
    if not isinstance(values, dict):
        raise InvalidInput("send a JSON object of the form's fields", field="body")
    return values


@router.post(
    "/{form}", openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}
)
async def post_intake(form: FormKey, request: Request, workspace: WorkspaceDep) -> IntakeReceived:
    """Send a lead through a public form: it is checked, deduplicated and routed to an owner."""
    values = await posted_values(request)
    received = await submit(workspace, form, values, client_address(request))
    return IntakeReceived(message=received.form.thank_you)


async def submit(workspace: Workspace, form: str, values: dict[str, Any], address: str) -> intake.Received:
    """Take a post off the event loop (the database work blocks)."""
    return await run_in_threadpool(
        intake.submit, workspace.engine, workspace.clock, form_key=form, values=values, address=address,
        per_minute=workspace.settings.intake_posts_per_minute,
    )  # fmt: skip
