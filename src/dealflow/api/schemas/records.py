"""Bodies of leads, handoffs, events and processes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from dealflow.api.schemas.common import Body, Fields, Id, Key, ShortText

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class LeadCreate(Body):
    """A new lead, owned by you unless ``owner`` says otherwise, or, with ``route`` and a ``process``,
    by whoever the process's routing rules pick."""

    name: Name
    company: Name | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None
    source: Key | None = None
    owner: Id | None = None
    process: Key | None = None
    fields: Fields | None = None
    route: bool = False


class LeadPublic(BaseModel):
    """A lead and where it stands."""

    id: str
    name: str
    company: str | None
    email: str | None
    source: str | None
    owner: str
    status: str
    created_at: datetime
    closed_at: datetime | None
    reason: str | None
    deal_id: str | None
    fit_score: int | None = None
    intent_score: int | None = None
    score: int | None = None
    learned_score: float | None = None
    reengage_on: date | None = None


class LeadDisqualify(Body):
    """Close a lead as disqualified, with a reason code of the process (the lead's own by default)."""

    reason: Key | None = None
    process: Key | None = None


class LeadConvert(Body):
    """Turn a lead into a deal in the first stage of a process (the lead's own by default), through the
    conversion gate; ``override`` with a ``reason`` passes a failed gate (allowed roles only)."""

    process: Key | None = None
    title: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    override: bool = False
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None


class HandoffPublic(BaseModel):
    """A handoff between roles, the context it carries and its deadline."""

    id: str
    deal_id: str
    title: str | None = None
    from_owner: str
    to_owner: str
    from_stage: str
    to_stage: str
    context: dict[str, Any]
    completeness: float
    created_at: datetime
    due_at: datetime
    status: str
    resolved_at: datetime | None
    resolved_by: str | None
    reason: str | None


class HandoffReturn(Body):
    """Why the handoff goes back."""

    reason: ShortText = Field(min_length=1)


class EventPublic(BaseModel):
    """One immutable record of the event log."""

    seq: int
    stream: str
    version: int
    type: str
    actor: str
    at: datetime
    data: dict[str, Any]


class ProcessSummary(BaseModel):
    """An installed process, at its newest version."""

    key: str
    version: int
    name: str
    installed_at: datetime
    default: bool = Field(
        default=False, description="The workspace's default process: what the board, metrics and new leads use."
    )


class DefaultProcess(BaseModel):
    """The process to make the workspace's default."""

    key: str = Field(max_length=64, description="An installed process's key.")


class MigrationRequest(Body):
    """Move the running deals of a process onto a newer installed version."""

    to_version: int = Field(ge=1, le=2**31 - 1, description="The installed version to move them to.")
    mapping: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=64)]] = Field(
        default_factory=dict,
        max_length=200,
        description="Old stage key -> new stage key, for stages the new version lacks.",
    )
    dry_run: bool = Field(False, description="Report what would happen; change nothing.")


class MigratedDealPublic(BaseModel):
    """One running deal and what the migration does (or would do) to it."""

    deal_id: str
    from_version: int
    from_stage: str
    to_stage: str
    entry_unmet: list[str] = Field(description="Entry criteria of its new stage it lacks.")
    exit_unmet: list[str] = Field(description="What the new version's gate out of its stage asks and it lacks.")
    next_stage: str | None
    skipped: str | None = Field(description="Why the deal stays where it is (None: it moves).")


class MigrationPublic(BaseModel):
    """What a migration did, or on a dry run would do."""

    process: str
    to_version: int
    dry_run: bool
    migrated: int
    gate_unmet: int
    deals: list[MigratedDealPublic]


class TemplateSummary(BaseModel):
    """A process template dealflow ships."""

    template: str
    name: str
    stages: list[str]


class ProcessSource(Body):
    """A process file (YAML), and the name to report problems under."""

    source: str = Field(min_length=1, max_length=1_000_000)
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "process.yaml"


class ProcessValidation(BaseModel):
    """A process file that passed validation, with any warnings."""

    valid: bool
    process: str
    stages: int
    warnings: list[str]
