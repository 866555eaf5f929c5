"""``/processes``: the installed processes and shipped templates; validating and installing process files."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from dealflow.api.schemas.common import row_dict
from dealflow.api.schemas.records import (
    DefaultProcess,
    MigratedDealPublic,
    MigrationPublic,
    MigrationRequest,
    ProcessSource,
    ProcessSummary,
    ProcessValidation,
    TemplateSummary,
)
from dealflow.errors import NotFound
from dealflow.process.loading import load_template, parse_process, template_names
from dealflow.server.dependencies import CurrentUser, WorkspaceDep, WriterDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.services import access
from dealflow.services import workspace as ws
from dealflow.services.migration import migrate
from dealflow.store import queries
from dealflow.store.processes import default_process_key, load_process
from dealflow.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/processes", tags=["processes"], responses=ERROR_RESPONSES)
ProcessKey = Annotated[str, Path(max_length=64)]


@router.get("")
def list_processes(_principal: CurrentUser, workspace: WorkspaceDep) -> list[ProcessSummary]:
    """The processes installed in the workspace, each at its newest version, the default one marked."""
    with workspace.unit() as uow:
        default = default_process_key(uow.connection)
        rows = queries.list_processes(uow.connection)
    return [ProcessSummary.model_validate({**row_dict(r), "default": r.key == default}) for r in rows]


@router.put("/default", response_model=ProcessSummary)
def choose_default_process(body: DefaultProcess, write: WriterDep) -> Response:
    """Make an installed process the workspace's default (revops or admin)."""

    def act(uow: UnitOfWork) -> ProcessSummary:
        process = ws.choose_default_process(uow=uow, key=body.key, actor_id=write.actor.id)
        row = queries.process_source(uow.connection, key=process.key)
        return ProcessSummary.model_validate({**row_dict(row), "default": True})

    return write.run(act)


@router.get("/templates")
def list_templates(_principal: CurrentUser) -> list[TemplateSummary]:
    """The process templates dealflow ships."""
    found = [load_template(name)[0] for name in template_names()]
    return [TemplateSummary(template=p.key, name=p.name, stages=[s.key for s in p.stages]) for p in found]


@router.get("/templates/{name}")
def show_template(name: ProcessKey, _principal: CurrentUser) -> dict[str, Any]:
    """A shipped template: its stages, owners, service levels, required fields and criteria."""
    if name not in template_names():
        raise NotFound(f"no template '{name}' (templates: {', '.join(template_names())})")
    return load_template(name)[0].model_dump(mode="json", by_alias=True)


@router.get("/{key}")
def show_process(
    key: ProcessKey,
    _principal: CurrentUser,
    workspace: WorkspaceDep,
    version: Annotated[int | None, Query(ge=1, description="A version (default: the newest).")] = None,
) -> dict[str, Any]:
    """An installed process: its stages, owners, service levels, required fields and exit criteria."""
    with workspace.unit() as uow:
        return load_process(uow.connection, key=key, version=version).model_dump(mode="json", by_alias=True)


@router.post("/validate")
def validate_process(body: ProcessSource, _principal: CurrentUser) -> ProcessValidation:
    """Check a process file without installing it; problems come back as a 422 naming line and field."""
    process, warnings = parse_process(body.source, name=body.name)
    return ProcessValidation(valid=True, process=process.ref, stages=len(process.stages), warnings=warnings)


@router.post("", status_code=201, response_model=ProcessSummary)
def install_process(body: ProcessSource, write: WriterDep) -> Response:
    """Install a process file, or a new version of one (revops or admin)."""
    access.administer(write.actor, "install processes")

    def act(uow: UnitOfWork) -> ProcessSummary:
        process = ws.install_process(uow=uow, source=body.source, name=body.name, actor_id=write.actor.id)
        row = queries.process_source(uow.connection, key=process.key, version=process.version)
        return ProcessSummary.model_validate(row_dict(row))

    return write.run(act, status_code=201)


@router.post("/{process_key}/migrate", response_model=MigrationPublic)
def migrate_deals(process_key: ProcessKey, body: MigrationRequest, write: WriterDep) -> Response:
    """Move the running deals of a process onto a newer installed version (revops or admin): each
    keeps its stage or goes where ``mapping`` says; the new gate out of it is judged and reported.
    With ``dry_run`` nothing changes."""

    def act(uow: UnitOfWork) -> MigrationPublic:
        report = migrate(
            uow=uow, actor_id=write.actor.id, key=process_key, to_version=body.to_version, mapping=body.mapping,
            dry_run=body.dry_run,
        )  # fmt: skip
        deals = [MigratedDealPublic.model_validate(asdict(d)) for d in report.deals]
        return MigrationPublic(
            process=report.process, to_version=report.to_version, dry_run=report.dry_run, migrated=report.migrated,
            gate_unmet=report.gate_unmet, deals=deals,
        )  # fmt: skip

    return write.run(act)
