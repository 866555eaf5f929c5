"""``/users``, ``/accounts`` and ``/contacts``: the team (changed by revops and admins) and the buyers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from dealflow.api.schemas.common import row_dict
from dealflow.api.schemas.people import (
    AccountCreate,
    AwaySet,
    ContactCreate,
    Created,
    PasswordSet,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from dealflow.errors import NotFound
from dealflow.server.dependencies import CurrentUser, WorkspaceDep, WriterDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.services import access, auth, routing
from dealflow.services import workspace as ws
from dealflow.store import queries
from dealflow.store.unit_of_work import UnitOfWork

router = APIRouter(tags=["users"], responses=ERROR_RESPONSES)
UserId = Annotated[str, Path(max_length=64)]


def _user(uow: UnitOfWork, user_id: str) -> UserPublic:
    row = queries.get_user(uow.connection, user_id=user_id)
    if row is None:
        raise NotFound(f"no user '{user_id}'")
    return UserPublic.model_validate(row_dict(row))


@router.get("/users")
def list_users(_principal: CurrentUser, workspace: WorkspaceDep) -> list[UserPublic]:
    """Everyone on the team, with their roles and team."""
    with workspace.unit() as uow:
        return [UserPublic.model_validate(row_dict(r)) for r in queries.list_users(uow.connection)]


@router.get("/users/{user_id}")
def show_user(user_id: UserId, _principal: CurrentUser, workspace: WorkspaceDep) -> UserPublic:
    """One user."""
    with workspace.unit() as uow:
        return _user(uow, user_id)


@router.post("/users", status_code=201, response_model=UserPublic)
def add_user(body: UserCreate, write: WriterDep) -> Response:
    """Add a user (revops or admin); with a password they can log in at once."""
    access.administer(write.actor, "add users")

    def act(uow: UnitOfWork) -> UserPublic:
        added = ws.add_user(
            uow=uow, user_id=body.id, name=body.name, roles=body.roles, team=body.team, email=body.email,
            actor_id=write.actor.id,
        )  # fmt: skip
        if body.password is not None:
            auth.set_password(uow=uow, user_id=added.id, password=body.password, actor_id=write.actor.id)
        return _user(uow, added.id)

    return write.run(act, status_code=201)


@router.patch("/users/{user_id}", response_model=UserPublic)
def change_user(user_id: UserId, body: UserUpdate, write: WriterDep) -> Response:
    """Change a user's name, roles, team or email (revops or admin); new roles apply at once."""
    changes = body.model_dump(exclude_unset=True)

    def act(uow: UnitOfWork) -> UserPublic:
        ws.change_user(uow=uow, user_id=user_id, changes=changes, actor_id=write.actor.id)
        return _user(uow, user_id)

    return write.run(act)


@router.put("/users/{user_id}/password", status_code=204)
def set_password(user_id: UserId, body: PasswordSet, principal: CurrentUser, workspace: WorkspaceDep) -> Response:
    """Set a user's password (revops or admin); their sessions end."""
    access.administer(principal.actor, "set another user's password")
    with workspace.unit() as uow:
        auth.set_password(uow=uow, user_id=user_id, password=body.password, actor_id=principal.actor.id)
    return Response(status_code=204)


@router.post("/accounts", status_code=201, response_model=Created, tags=["accounts"])
def add_account(body: AccountCreate, write: WriterDep) -> Response:
    """Add an account (a buying company)."""

    def act(uow: UnitOfWork) -> Created:
        found = ws.add_account(uow=uow, actor_id=write.actor.id, account_id=body.id, name=body.name, domain=body.domain)
        return Created(id=found)

    return write.run(act, status_code=201)


@router.post("/contacts", status_code=201, response_model=Created, tags=["accounts"])
def add_contact(body: ContactCreate, write: WriterDep) -> Response:
    """Add a contact (a person on the buying side)."""

    def act(uow: UnitOfWork) -> Created:
        found = ws.add_contact(
            uow=uow, actor_id=write.actor.id, contact_id=body.id, name=body.name, email=body.email,
            title=body.title, account_id=body.account_id,
        )  # fmt: skip
        return Created(id=found)

    return write.run(act, status_code=201)


@router.put("/users/{user_id}/away", response_model=UserPublic)
def set_away(user_id: UserId, body: AwaySet, write: WriterDep) -> Response:
    """Mark a user out of office (themselves, or anyone for a manager, revops or admin); routing skips them."""

    def act(uow: UnitOfWork) -> UserPublic:
        routing.set_away(uow=uow, actor_id=write.actor.id, user_id=user_id, until=body.until, since=body.from_)
        return _user(uow, user_id)

    return write.run(act)
