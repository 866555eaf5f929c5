"""``/cadences``: the touches due for you, a lead's or deal's cadence, recording touches, metrics."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from dealflow.analytics.cadence import measure_cadences
from dealflow.api.schemas.cadences import (
    CadenceTaskPublic,
    CadenceTasksPublic,
    NextTouchPublic,
    TouchCreate,
    TouchPublic,
)
from dealflow.server.dependencies import CurrentUser, WorkspaceDep, WriterDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.services import access
from dealflow.services import cadences as sc
from dealflow.store import cadence_tasks as tasks
from dealflow.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/cadences", tags=["cadences"], responses=ERROR_RESPONSES)
Subject = Annotated[str, Path(max_length=70, description="A lead or deal id, like L-3 or D-7.")]


def _tasks(uow: UnitOfWork, subject: str) -> CadenceTasksPublic:
    rows = tasks.subject_tasks(uow.connection, subject=subject)
    names = tasks.titles(uow.connection, [subject])
    return CadenceTasksPublic(data=[CadenceTaskPublic.of(r, names) for r in rows], count=len(rows))


@router.get("/due")
def due(principal: CurrentUser, workspace: WorkspaceDep) -> CadenceTasksPublic:
    """Your touches due today and the overdue ones, oldest first."""
    with workspace.unit() as uow:
        rows = tasks.due_tasks(uow.connection, owner=principal.actor.id, today=tasks.as_of(uow.clock()))
        names = tasks.titles(uow.connection, [r.subject for r in rows])
    return CadenceTasksPublic(data=[CadenceTaskPublic.of(r, names) for r in rows], count=len(rows))


@router.get("/metrics")
def metrics(
    principal: CurrentUser,
    workspace: WorkspaceDep,
    kind: Literal["lead", "deal"] | None = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    grace: Annotated[int, Query(ge=0, le=30, description="Days after the due day still on time.")] = 1,
) -> dict[str, Any]:
    """Cadence compliance per rep and step, reply and meeting rates per step and channel, depth."""
    owner, team = access.report_filters(principal.actor, owner=owner, team=team)
    with workspace.unit() as uow:
        found = measure_cadences(
            uow.connection, today=tasks.as_of(uow.clock()), grace_days=grace, kind=kind, owner=owner, team=team
        )
    return found.as_json()


@router.get("/{subject}")
def show(subject: Subject, principal: CurrentUser, workspace: WorkspaceDep) -> CadenceTasksPublic:
    """Every touch of a lead's or deal's cadences, the latest cadence first."""
    chosen = sc.subject_of(subject)
    with workspace.unit() as uow:
        sc.check_access(uow.connection, actor=principal.actor, subject=chosen)
        return _tasks(uow, chosen)


@router.get("/{subject}/next-touch")
def next_touch(subject: Subject, principal: CurrentUser, workspace: WorkspaceDep) -> NextTouchPublic | None:
    """The next cadence touch or next step of a lead or deal, whichever is due first (null: none)."""
    chosen = sc.subject_of(subject)
    with workspace.unit() as uow:
        sc.check_access(uow.connection, actor=principal.actor, subject=chosen)
        found = sc.next_touch(uow.connection, chosen)
    return None if found is None else NextTouchPublic.model_validate(asdict(found))


@router.post("/{subject}", status_code=201, response_model=CadenceTasksPublic)
def start(subject: Subject, write: WriterDep) -> Response:
    """Start the cadence of a lead or deal that has none running."""
    chosen = sc.subject_of(subject)

    def act(uow: UnitOfWork) -> CadenceTasksPublic:
        sc.check_access(uow.connection, actor=write.actor, subject=chosen, change=True)
        sc.start_cadence(uow=uow, actor_id=write.actor.id, subject=chosen)
        return _tasks(uow, chosen)

    return write.run(act, status_code=201)


@router.post("/{subject}/touches", status_code=201, response_model=TouchPublic)
def touch_done(subject: Subject, body: TouchCreate, write: WriterDep) -> Response:
    """Record the next open touch of the cadence, with what came of it (a reply or meeting stops it)."""
    chosen = sc.subject_of(subject)

    def act(uow: UnitOfWork) -> TouchPublic:
        sc.check_access(uow.connection, actor=write.actor, subject=chosen, change=True)
        found = sc.record_touch(uow=uow, actor_id=write.actor.id, subject=chosen, outcome=body.outcome, note=body.note)
        return TouchPublic.model_validate(asdict(found))

    return write.run(act, status_code=201)


@router.post("/{subject}/stop", response_model=CadenceTasksPublic)
def stop(subject: Subject, write: WriterDep) -> Response:
    """Stop the cadence running on a lead or deal."""
    chosen = sc.subject_of(subject)

    def act(uow: UnitOfWork) -> CadenceTasksPublic:
        sc.check_access(uow.connection, actor=write.actor, subject=chosen, change=True)
        sc.stop_cadence(uow=uow, actor_id=write.actor.id, subject=chosen)
        return _tasks(uow, chosen)

    return write.run(act)
