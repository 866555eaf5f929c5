"""Commands: what a user asks for, in the imperative. Rules turn them into events or refusals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CreateDeal:
    """Open a new deal in the first stage of a process (or a named stage); ``override`` asks to
    start it where the process does not create deals, with ``reason``."""

    deal_id: str
    title: str
    owner: str
    account_id: str | None = None
    stage: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    override: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class UpdateFields:
    """Capture or change field values; None clears a field."""

    fields: dict[str, Any]


@dataclass(frozen=True)
class LogActivity:
    """Record a call, email, meeting or note."""

    kind: str
    summary: str
    at: datetime | None = None
    contact_id: str | None = None


@dataclass(frozen=True)
class SetNextStep:
    """Set the single next action of the deal."""

    action: str
    owner: str
    due: datetime
    buyer_confirmed: bool = False


@dataclass(frozen=True)
class AttachContact:
    """Attach a contact to the deal in a role (economic_buyer, champion, ...)."""

    contact_id: str
    role: str


@dataclass(frozen=True)
class ScoreQualification:
    """Confirm (or un-confirm) one element of a qualification framework."""

    framework: str
    element: str
    confirmed: bool = True
    note: str = ""


@dataclass(frozen=True)
class RecordApproval:
    """Record an approval of a kind (discount, legal, pricing...)."""

    approval: str
    note: str = ""


@dataclass(frozen=True)
class AttachDocument:
    """Attach a document or link of a kind (proposal, contract, scope...)."""

    document: str
    name: str
    url: str | None = None


@dataclass(frozen=True)
class MoveDeal:
    """Move the deal to another stage; ``override`` asks to pass a failed gate with ``reason``."""

    to: str
    reason: str | None = None
    override: bool = False
    handoff_to: str | None = None
    handoff_to_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class CloseDeal:
    """End the deal as won, lost or disqualified, with a reason code and closing fields."""

    outcome: str
    reason: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    handoff_to: str | None = None
    handoff_to_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReopenDeal:
    """Open a won, lost or disqualified deal again, saying why; in ``stage`` (default: the stage
    it was closed in, or for a won deal gone on to a post-sale stage, the last it could be won from)."""

    reason: str
    stage: str | None = None


@dataclass(frozen=True)
class ReassignDeal:
    """Give the deal to another owner."""

    to_owner: str
    reason: str | None = None


@dataclass(frozen=True)
class AcceptHandoff:
    """The receiver takes the deal with the context it came with."""

    handoff_id: str


@dataclass(frozen=True)
class ReturnHandoff:
    """The receiver sends the deal back to the sender, saying why."""

    handoff_id: str
    reason: str
