"""The process as a diagram (its stages with their goal, owner, evidence and service level), and the
editor of its file, which validates before it installs a new version."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from dealflow.domain import access as rules
from dealflow.errors import Conflict, NotFound, ProcessFileError
from dealflow.process.loading import parse_process
from dealflow.server.dependencies import WorkspaceDep
from dealflow.services import access
from dealflow.services import workspace as ws
from dealflow.store import queries
from dealflow.store.processes import default_process_key, load_process
from dealflow.web import forms
from dealflow.web.rendering import render
from dealflow.web.sessions import PageUser, PageWriter

router = APIRouter()
MAX_SOURCE = 200_000


@router.get("/processes", response_class=HTMLResponse)
def process_page(request: Request, me: PageUser, workspace: WorkspaceDep, key: str | None = None) -> Response:
    """One installed process (the workspace's default one unless named) drawn as its stages with criteria and SLAs."""
    with workspace.unit() as uow:
        installed = queries.list_processes(uow.connection)
        if not installed:
            raise NotFound("no process is installed yet: install one with `dealflow process install`")
        default = default_process_key(uow.connection)
        process = load_process(uow.connection, key=(key or default or installed[0].key)[:64])
    may_edit = rules.may_administer(me.actor, "edit processes") is None
    return render(request, "process.html", me, process=process, processes=installed, may_edit=may_edit, default=default)


@router.post("/processes/default")
async def make_default(request: Request, me: PageWriter, workspace: WorkspaceDep) -> Response:
    """Make the process shown the workspace's default one (revops and admins)."""
    key = forms.required_text(await request.form(), "key", max_length=64)
    with workspace.unit() as uow:
        process = ws.choose_default_process(uow=uow, key=key, actor_id=me.actor.id)
    return RedirectResponse(f"/processes?key={process.key}", status_code=303)


def _source(form: FormData) -> str:
    return forms.required_text(form, "source", max_length=MAX_SOURCE)


@router.get("/processes/edit", response_class=HTMLResponse)
def editor(request: Request, me: PageUser, workspace: WorkspaceDep, key: str) -> Response:
    """The process file in an editor (revops and admins), to validate and install as a new version."""
    access.administer(me.actor, "edit processes")
    with workspace.unit() as uow:
        row = queries.process_source(uow.connection, key=key[:64])
    if row is None:
        raise NotFound(f"no process '{key[:64]}'")
    return render(request, "process_edit.html", me, key=row.key, source=row.source, problems=[], warnings=[])


@router.post("/processes/check", response_class=HTMLResponse)
async def check(request: Request, me: PageWriter) -> Response:
    """Validate a process file without installing it: every problem, each with its line."""
    access.administer(me.actor, "edit processes")
    try:
        process, warnings = parse_process(_source(await request.form()), name="process.yaml")
    except ProcessFileError as exc:
        return render(request, "fragments/process_check.html", me, status_code=422, problems=exc.problems, ok=None)
    return render(request, "fragments/process_check.html", me, problems=[], warnings=warnings, ok=process)


@router.post("/processes/save", response_class=HTMLResponse)
async def save(request: Request, me: PageWriter, workspace: WorkspaceDep) -> Response:
    """Validate the file and install it as a new version; on a problem, the editor again with it listed."""
    form = await request.form()
    source = _source(form)
    key = forms.text(form, "key", max_length=64, required=False) or ""
    try:
        with workspace.unit() as uow:
            process = ws.install_process(uow=uow, source=source, name=f"{key or 'process'}.yaml", actor_id=me.actor.id)
    except (ProcessFileError, Conflict) as exc:
        problems = exc.problems if isinstance(exc, ProcessFileError) else [exc.message]
        status = 422 if isinstance(exc, ProcessFileError) else 409
        return render(
            request, "process_edit.html", me, status_code=status, key=key, source=source, problems=problems,
            warnings=[],
        )  # fmt: skip
    return RedirectResponse(f"/processes?key={process.key}", status_code=303)
