"""Bodies and answers of ``/cadences``: touches of the cadences of leads and deals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dealflow.api.schemas.common import Body


class TouchCreate(Body):
    """What came of the touch just done (the cadence's next open step)."""

    outcome: Literal["none", "reply", "meeting"] = "none"
    note: str | None = Field(default=None, max_length=2000)


class CadenceTaskPublic(BaseModel):
    """One touch of a cadence."""

    model_config = ConfigDict(from_attributes=True)

    subject: str
    run: int
    step: int
    cadence: str
    channel: str
    template: str
    due_on: date
    owner: str
    status: str
    done_at: datetime | None = None
    outcome: str | None = None
    stop_reason: str | None = None
    name: str | None = None

    @classmethod
    def of(cls, row: Any, names: dict[str, str] | None = None) -> CadenceTaskPublic:
        """A stored row of ``cadence_tasks`` (with what its subject is called, when known)."""
        found = cls.model_validate(row)
        return found.model_copy(update={"name": (names or {}).get(row.subject)})


class CadenceTasksPublic(BaseModel):
    """Touches, and how many."""

    data: list[CadenceTaskPublic]
    count: int


class TouchPublic(BaseModel):
    """The touch just recorded, and why the cadence ended with it (None while it runs on)."""

    subject: str
    step: int
    channel: str
    outcome: str
    stopped: str | None


class NextTouchPublic(BaseModel):
    """What happens next on a lead or deal: a cadence touch or the deal's next step."""

    kind: Literal["cadence", "next_step"]
    what: str
    due_on: date
    owner: str
    channel: str | None = None
    step: int | None = None
    steps: int | None = None
    cadence: str | None = None
    buyer_confirmed: bool | None = None
