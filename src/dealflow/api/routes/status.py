"""``/health``: whether this instance can serve, for load balancers and uptime checks."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from dealflow.server.dependencies import WorkspaceDep
from dealflow.server.errors import ERROR_RESPONSES
from dealflow.store.engine import check_ready

router = APIRouter(tags=["health"], responses={503: ERROR_RESPONSES[422] | {"description": "Cannot serve"}})


class Health(BaseModel):
    """The instance can serve: the database is reachable and its schema current."""

    status: str


@router.get("/health")
def health(workspace: WorkspaceDep) -> Health:
    """Answer 200 when the database is reachable and its schema current, 503 otherwise (no login needed)."""
    check_ready(workspace.engine)
    return Health(status="ok")
