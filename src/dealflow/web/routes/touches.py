"""Cadence touches from the pages: the done / reply / meeting buttons, starting a cadence, and the
context of the next-touch fragment that the deal page (and a lead page) include."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from dealflow.domain.decisions import Actor
from dealflow.server.dependencies import WorkspaceDep
from dealflow.services import cadences as sc
from dealflow.store import cadence_tasks as tasks
from dealflow.web import forms
from dealflow.web.sessions import PageWriter

router = APIRouter()
_BACK = ("/day", "/deals/", "/leads/")


def next_touch_context(connection: Connection, *, subject: str, status: str, back: str) -> dict[str, Any]:
    """What ``fragments/next_touch.html`` needs for a lead or deal whose status is ``status``."""
    running = tasks.running(connection, subject=subject) is not None
    return {
        "subject": subject,
        "next_touch": sc.next_touch(connection, subject),
        "can_start": status == "open" and not running,
        "back": back,
    }


def _back(value: str | None) -> str:
    """Where to go after the form: the page it came from, if it is one of ours."""
    if value and value.startswith(_BACK) and "//" not in value and len(value) <= 200:
        return value
    return "/day"


@router.post("/touches/{subject}")
async def touch_done(subject: str, request: Request, me: PageWriter, workspace: WorkspaceDep) -> Response:
    """Record the next touch of a lead's or deal's cadence with its outcome (done, reply, meeting)."""
    form = await request.form()
    outcome = forms.text(form, "outcome", max_length=16, required=False) or "none"
    note = forms.text(form, "note", max_length=2000, required=False)
    chosen = sc.subject_of(subject)

    def record(actor: Actor) -> None:  # in the thread pool: the database work never blocks the event loop
        with workspace.unit() as uow:
            sc.check_access(uow.connection, actor=actor, subject=chosen, change=True)
            sc.record_touch(uow=uow, actor_id=actor.id, subject=chosen, outcome=outcome, note=note)

    await run_in_threadpool(record, me.actor)
    return RedirectResponse(_back(str(form.get("back") or "")), status_code=303)


@router.post("/cadences/{subject}/start")
async def start(subject: str, request: Request, me: PageWriter, workspace: WorkspaceDep) -> Response:
    """Start the follow-up cadence of a lead or deal."""
    form = await request.form()
    chosen = sc.subject_of(subject)

    def begin(actor: Actor) -> None:
        with workspace.unit() as uow:
            sc.check_access(uow.connection, actor=actor, subject=chosen, change=True)
            sc.start_cadence(uow=uow, actor_id=actor.id, subject=chosen)

    await run_in_threadpool(begin, me.actor)
    return RedirectResponse(_back(str(form.get("back") or "")), status_code=303)
