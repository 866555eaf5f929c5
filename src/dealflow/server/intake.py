"""A post to a lead form, as the REST API and the web form both take it: its fields read from JSON
or a form, and its work done off the event loop."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from dealflow.errors import InvalidInput
from dealflow.server.dependencies import Workspace
from dealflow.services import intake

MAX_BODY = 256 * 1024


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


async def submit(workspace: Workspace, form: str, values: dict[str, Any], address: str) -> intake.Received:
    """Take a post off the event loop (the database work blocks)."""
    return await run_in_threadpool(
        intake.submit, workspace.engine, workspace.clock, form_key=form, values=values, address=address,
        per_minute=workspace.settings.intake_posts_per_minute,
    )  # fmt: skip
