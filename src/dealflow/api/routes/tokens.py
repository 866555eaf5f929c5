"""``/tokens``: API tokens for scripts, shown once at creation, revocable."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query

from dealflow.api.schemas.people import TokenCreate, TokenCreated, TokenPublic
from dealflow.errors import InvalidInput
from dealflow.server.dependencies import CurrentUser, WorkspaceDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.services import tokens

router = APIRouter(prefix="/tokens", tags=["tokens"], responses=ERROR_RESPONSES)


@router.get("")
def list_tokens(
    principal: CurrentUser,
    workspace: WorkspaceDep,
    user: Annotated[str | None, Query(max_length=64, description="Another user's (revops or admin).")] = None,
    every: Annotated[bool, Query(alias="all", description="Everyone's (revops or admin).")] = False,
) -> list[TokenPublic]:
    """Your API tokens (never the tokens themselves)."""
    with workspace.unit() as uow:
        found = tokens.list_tokens(uow=uow, actor_id=principal.actor.id, user_id=user, every=every)
    return [TokenPublic.of(t) for t in found]


@router.post("", status_code=201)
def create_token(
    body: TokenCreate,
    principal: CurrentUser,
    workspace: WorkspaceDep,
    key: Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False)] = None,
) -> TokenCreated:
    """Make an API token; the token is in this answer only (send it as ``Authorization: Bearer``).

    No Idempotency-Key here: replaying the answer would mean storing the token."""
    if key is not None:
        raise InvalidInput("not accepted when making a token: the token is never stored", field="Idempotency-Key")
    expires = None if body.expires_in_days is None else timedelta(days=body.expires_in_days)
    with workspace.unit() as uow:
        made, secret = tokens.create_token(
            uow=uow, actor_id=principal.actor.id, name=body.name, user_id=body.user_id, expires_in=expires
        )
    return TokenCreated(**TokenPublic.of(made).model_dump(), token=secret)


@router.delete("/{token_id}")
def revoke_token(
    token_id: Annotated[str, Path(max_length=32)], principal: CurrentUser, workspace: WorkspaceDep
) -> TokenPublic:
    """Revoke an API token at once (yours; anyone's for revops and admins)."""
    with workspace.unit() as uow:
        return TokenPublic.of(tokens.revoke_token(uow=uow, actor_id=principal.actor.id, token_id=token_id))
