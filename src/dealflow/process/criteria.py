"""The kinds of evidence a gate can demand, as typed models read from process files.

Each criterion knows how to describe itself in words a rep understands; judging a deal
against a criterion lives in :mod:`dealflow.domain.gates`.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dealflow.process.durations import Duration
from dealflow.process.expressions import check_syntax

ACTIVITY_KINDS = ("call", "email", "meeting", "note")
ActivityKind = Literal["call", "email", "meeting", "note"]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
# Which evidence a criterion counts: only what was gathered since the deal entered its stage, or
# any ever gathered. Work done in a stage (activities, the next step, documents, approvals)
# counts from the stage's entry unless the criterion says ``since: ever``; facts about the deal
# and its buyer (fields, contacts in a role, qualification) count whenever they were captured
# unless it says ``since: stage`` (``max_age`` bounds how old they may be).
Since = Literal["stage", "ever"]


class _Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    message: str | None = Field(default=None, max_length=300)

    def describe(self) -> str:
        """The sentence shown when this criterion is unmet."""
        return self.message or self.default_message()

    @abstractmethod
    def default_message(self) -> str:
        """The sentence used when the process file gives none."""


class FieldCaptured(_Criterion):
    """A field holds a value (optionally captured no longer than ``max_age`` ago)."""

    kind: Literal["field"]
    field: Key
    max_age: Duration | None = None
    since: Since = "ever"

    def default_message(self) -> str:
        label = self.field.replace("_", " ").capitalize()
        return f"{label} not captured" + (" recently enough" if self.max_age else "")


class Condition(_Criterion):
    """An expression over the deal's fields, such as ``amount >= 5000 and seats > 10``."""

    kind: Literal["condition"]
    expr: str = Field(min_length=1, max_length=500)

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        check_syntax(value)
        return value

    def default_message(self) -> str:
        return f"Condition not met: {self.expr}"


class ActivitySince(_Criterion):
    """At least ``min`` activities of a kind since the deal entered the stage."""

    kind: Literal["activity"]
    activity: ActivityKind
    min: int = Field(default=1, ge=1)
    since: Since = "stage"

    def default_message(self) -> str:
        noun = self.activity if self.min == 1 else f"{self.activity}s"
        return f"Needs {self.min} {noun} logged" + (" in this stage" if self.since == "stage" else "")


class NextStepSet(_Criterion):
    """A next step is set, due in the future, and (if asked) confirmed by the buyer."""

    kind: Literal["next_step"]
    buyer_confirmed: bool = False
    since: Since = "stage"

    def default_message(self) -> str:
        if self.buyer_confirmed:
            return "No buyer-confirmed next step in the future"
        return "No next step due in the future"


class ContactRole(_Criterion):
    """A contact with a given role (economic buyer, champion...) is attached to the deal."""

    kind: Literal["contact_role"]
    role: Key
    min: int = Field(default=1, ge=1)
    since: Since = "ever"

    def default_message(self) -> str:
        return f"No contact with the role {self.role.replace('_', ' ')}"


class QualificationScore(_Criterion):
    """The qualification scorecard of a framework reaches at least ``min``."""

    kind: Literal["qualification"]
    framework: Key
    min: int = Field(ge=1)
    max_age: Duration | None = None
    since: Since = "ever"

    def default_message(self) -> str:
        return f"{self.framework.upper()} qualification below {self.min}"


class ApprovalRecorded(_Criterion):
    """An approval of a kind (discount, legal, pricing...) has been recorded."""

    kind: Literal["approval"]
    approval: Key
    max_age: Duration | None = None
    since: Since = "stage"

    def default_message(self) -> str:
        return f"No {self.approval.replace('_', ' ')} approval recorded"


class DocumentAttached(_Criterion):
    """A document or link of a kind (proposal, contract, scope...) is attached."""

    kind: Literal["document"]
    document: Key
    max_age: Duration | None = None
    since: Since = "stage"

    def default_message(self) -> str:
        return f"No {self.document.replace('_', ' ')} attached"


Criterion = Annotated[
    FieldCaptured
    | Condition
    | ActivitySince
    | NextStepSet
    | ContactRole
    | QualificationScore
    | ApprovalRecorded
    | DocumentAttached,
    Field(discriminator="kind"),
]

CRITERION_KINDS = (
    "field",
    "condition",
    "activity",
    "next_step",
    "contact_role",
    "qualification",
    "approval",
    "document",
)
