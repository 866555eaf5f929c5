"""``/intake/<form>``: the public lead form a website embeds in an iframe (no login, no cookies).

The page stands alone (its own small style, no scripts); a post is taken like the REST endpoint's
and answered with the form's thank-you text, or with the form again saying what to fix.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from dealflow.errors import InvalidInput, TooManyAttempts
from dealflow.server.dependencies import WorkspaceDep, client_address
from dealflow.server.intake import posted_values, submit
from dealflow.services import intake
from dealflow.web.rendering import render

router = APIRouter()
FormKey = Annotated[str, Path(max_length=64)]
# Any site may frame the form; it sets no cookie and reads none, so framing exposes nothing.
HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}


@router.get("/intake/{form}", response_class=HTMLResponse)
def form_page(form: FormKey, request: Request, workspace: WorkspaceDep) -> HTMLResponse:
    """The empty form."""
    with workspace.unit() as uow:
        _, found = intake.find_form(uow.connection, form)
    return render(request, "intake/form.html", None, headers=HEADERS, form=found, values={}, error=None, field=None)


@router.post("/intake/{form}", response_class=HTMLResponse)
async def post_form(form: FormKey, request: Request, workspace: WorkspaceDep) -> HTMLResponse:
    """Take the post; thank the sender, or show the form again with what to fix."""
    values = await posted_values(request)
    try:
        received = await submit(workspace, form, values, client_address(request))
    except (InvalidInput, TooManyAttempts) as exc:
        with workspace.unit() as uow:
            _, found = intake.find_form(uow.connection, form)
        status = 429 if isinstance(exc, TooManyAttempts) else 422
        headers = HEADERS | ({"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else {})
        field = exc.field if isinstance(exc, InvalidInput) else None
        return render(
            request, "intake/form.html", None, status_code=status, headers=headers,
            form=found, values=values, error=exc.message, field=field,
        )  # fmt: skip
    sender = str(values.get("name") or "") if received.outcome != "spam" else ""
    return render(request, "intake/thanks.html", None, headers=HEADERS, form=received.form, sender=sender)
