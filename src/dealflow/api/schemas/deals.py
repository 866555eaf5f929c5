"""Bodies of the deal endpoints: creating, capturing evidence, moving, closing; a deal as returned."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from dealflow.api.schemas.common import Body, Fields, Id, Key, ShortText, Text
from dealflow.domain.deals import Deal
from dealflow.domain.gates import GateResult


class DealCreate(Body):
    """A new deal, in the first stage of its process unless ``stage`` says otherwise."""

    title: Text = Field(min_length=1)
    process: Key | None = Field(None, description="Process key (default: the workspace's default process).")
    owner: Id | None = Field(None, description="Owner's user id (default: you).")
    account_id: Id | None = None
    stage: Key | None = Field(
        None, description="Stage to start in (default: the first); outside the process's creation stages, an override."
    )
    override: bool = Field(False, description="Start outside the creation stages (the override roles only).")
    reason: Text | None = Field(None, description="Why the deal starts there: required with an override.")
    amount: Decimal | None = Field(None, ge=0)
    close_date: date | None = None
    fields: Fields = Field(default_factory=dict)

    def all_fields(self) -> dict[str, Any]:
        """The fields to capture, with the amount and close date among them."""
        found: dict[str, Any] = dict(self.fields)
        if self.amount is not None:
            found["amount"] = str(self.amount)
        if self.close_date is not None:
            found["close_date"] = self.close_date.isoformat()
        return found


class FieldsUpdate(Body):
    """Field values to capture or change; null clears a field."""

    fields: Fields = Field(min_length=1)


class MoveCreate(Body):
    """Move the deal to a stage through its gate, or past it with ``override`` and a reason."""

    to: Key
    reason: ShortText | None = None
    override: bool = False
    handoff_to: Id | None = Field(None, description="Who receives the deal when the owner role changes.")


class CloseCreate(Body):
    """End the deal as won, lost or disqualified, with a reason code and closing fields."""

    outcome: Literal["won", "lost", "disqualified"]
    reason: Key | None = None
    fields: Fields = Field(default_factory=dict)
    handoff_to: Id | None = None


class ReopenCreate(Body):
    """Open a closed deal again (a manager), saying why."""

    reason: ShortText = Field(min_length=1)
    stage: Key | None = Field(None, description="Sales stage to reopen in (default: the one it was closed in).")


class ReassignCreate(Body):
    """Give the deal to another owner."""

    to_owner: Id
    reason: ShortText | None = None


class ContactAttach(Body):
    """Attach a contact to the deal in a role (economic_buyer, champion...)."""

    contact_id: Id
    role: Key


class QualificationCreate(Body):
    """Confirm (or withdraw) one element of a qualification framework, with its evidence."""

    framework: Key
    element: Key
    confirmed: bool = True
    note: Text = ""


class ApprovalCreate(Body):
    """Record an approval (discount, legal, pricing...)."""

    approval: Key
    note: Text = ""


class DocumentCreate(Body):
    """Attach a document or link (proposal, contract, scope...)."""

    document: Key
    name: ShortText = Field(min_length=1)
    url: str | None = Field(None, max_length=2000)


class ActivityCreate(Body):
    """A call, email, meeting or note that happened (now, unless ``at`` says when)."""

    kind: Key
    summary: Text = Field(min_length=1)
    at: AwareDatetime | None = None
    contact_id: Id | None = None


class NextStepSet(Body):
    """The single next action of the deal: what, who (you by default), when, and whether the buyer agreed."""

    action: ShortText = Field(min_length=1)
    due: AwareDatetime
    owner: Id | None = None
    buyer_confirmed: bool = False


class EvidencePublic(BaseModel):
    """A captured value, who captured it and when."""

    value: Any
    by: str
    at: datetime


class NextStepPublic(BaseModel):
    """The deal's next step."""

    action: str
    owner: str
    due: datetime
    buyer_confirmed: bool
    by: str
    at: datetime


class PendingHandoffPublic(BaseModel):
    """A handoff awaiting acceptance."""

    id: str
    from_owner: str
    to_owner: str
    from_stage: str
    to_stage: str
    due_at: datetime


class ContactLinkPublic(BaseModel):
    """A contact attached to the deal in a role."""

    contact_id: str
    role: str
    by: str
    at: datetime


class DealPublic(BaseModel):
    """A deal as it stands, with every piece of evidence captured on it."""

    id: str
    title: str
    process: str
    process_version: int
    account_id: str | None
    owner: str
    stage: str
    status: str
    amount: Decimal | None
    close_date: date | None
    created_at: datetime
    stage_entered_at: datetime
    closed_at: datetime | None
    outcome_reason: str | None
    version: int
    fields: dict[str, EvidencePublic]
    next_step: NextStepPublic | None
    handoff: PendingHandoffPublic | None
    contacts: list[ContactLinkPublic]
    qualification: dict[str, dict[str, EvidencePublic]]
    approvals: dict[str, EvidencePublic]
    documents: dict[str, EvidencePublic]

    @classmethod
    def of(cls, deal: Deal) -> DealPublic:
        """The public view of a deal's state."""
        state = deal.model_dump(exclude={"activities", "close_date_pushes"})
        return cls.model_validate({**state, "amount": deal.amount, "close_date": deal.close_date})


class UnmetPublic(BaseModel):
    """One criterion not met, in words a rep understands."""

    kind: str
    message: str
    detail: str


class GatePublic(BaseModel):
    """The gate a deal faces to leave its stage: passed, or each unmet criterion."""

    deal: str
    stage: str
    to: str | None
    passed: bool
    unmet: list[UnmetPublic]

    @classmethod
    def of(cls, deal: Deal, to: str | None, result: GateResult | None) -> GatePublic:
        """The public view of a gate's result (None: no gate ahead)."""
        unmet = (
            [] if result is None else [UnmetPublic(kind=u.kind, message=str(u), detail=u.detail) for u in result.unmet]
        )
        return cls(deal=deal.id, stage=deal.stage, to=to, passed=not unmet, unmet=unmet)


class ContactPublic(BaseModel):
    """A contact on the deal, with their role on it."""

    id: str
    name: str
    email: str | None
    title: str | None
    role: str


class DealDetail(DealPublic):
    """A deal with the gate to its next stage and its contacts' details."""

    gate: GatePublic | None
    contact_details: list[ContactPublic]

    @classmethod
    def build(cls, deal: Deal, gate: GatePublic | None, contacts: Sequence[Any]) -> DealDetail:
        """The detail view of a deal."""
        details = [ContactPublic.model_validate(dict(c._mapping)) for c in contacts]
        return cls.model_validate({**DealPublic.of(deal).model_dump(), "gate": gate, "contact_details": details})


class DealSummary(BaseModel):
    """A deal in a list: where it is, whose it is, its size and its next step."""

    id: str
    title: str
    process: str
    stage: str
    status: str
    owner: str
    amount: Decimal | None
    close_date: date | None
    stage_entered_at: datetime
    version: int
    next_step: str | None
    next_step_due: datetime | None
    buyer_confirmed: bool | None


class ActivityPublic(BaseModel):
    """A call, email, meeting or note logged on a deal."""

    seq: int
    deal_id: str
    kind: str
    summary: str
    at: datetime
    actor: str
    contact_id: str | None
