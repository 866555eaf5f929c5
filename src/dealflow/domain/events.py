"""Events: immutable, past-tense records of everything that happened, the single source of truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Event types, in the past tense. Their payloads are plain JSON values.
PROCESS_INSTALLED = "ProcessInstalled"
# A workspace-wide choice, such as the default process: {name, value}.
WORKSPACE_SETTING_CHANGED = "WorkspaceSettingChanged"
USER_ADDED = "UserAdded"
USER_CHANGED = "UserChanged"
PASSWORD_CHANGED = "PasswordChanged"
API_TOKEN_CREATED = "ApiTokenCreated"
API_TOKEN_REVOKED = "ApiTokenRevoked"
ACCOUNT_CREATED = "AccountCreated"
CONTACT_CREATED = "ContactCreated"
DEAL_CREATED = "DealCreated"
FIELDS_UPDATED = "FieldsUpdated"
ACTIVITY_LOGGED = "ActivityLogged"
NEXT_STEP_SET = "NextStepSet"
CONTACT_ATTACHED = "ContactAttached"
QUALIFICATION_SCORED = "QualificationScored"
APPROVAL_RECORDED = "ApprovalRecorded"
DOCUMENT_ATTACHED = "DocumentAttached"
GATE_OVERRIDDEN = "GateOverridden"
DEAL_MOVED = "DealMoved"
HANDOFF_CREATED = "HandoffCreated"
HANDOFF_ACCEPTED = "HandoffAccepted"
HANDOFF_RETURNED = "HandoffReturned"
DEAL_REASSIGNED = "DealReassigned"
DEAL_WON = "DealWon"
DEAL_LOST = "DealLost"
DEAL_DISQUALIFIED = "DealDisqualified"
# A closed deal (won, lost or disqualified) open again: {from_status, stage, reason}.
DEAL_REOPENED = "DealReopened"
# A running deal moved onto a newer version of its process: {from_version, to_version, from_stage, to_stage}.
DEAL_MIGRATED = "DealMigrated"
LEAD_CREATED = "LeadCreated"
LEAD_DISQUALIFIED = "LeadDisqualified"
LEAD_CONVERTED = "LeadConverted"
LEAD_ASSIGNED = "LeadAssigned"
CADENCE_STARTED = "CadenceStarted"
TOUCH_DONE = "TouchDone"
CADENCE_STOPPED = "CadenceStopped"
LEAD_ESCALATED = "LeadEscalated"
LEAD_RESUBMITTED = "LeadResubmitted"
# Qualification, scoring and nurture of leads.
LEAD_QUALIFIED = "LeadQualificationScored"
LEAD_SCORED = "LeadScored"
LEAD_RECYCLED = "LeadRecycled"
LEAD_REOPENED = "LeadReopened"
# A service level missed: {kind: stage|handoff|speed_to_lead, deal_id|lead_id, due_at, ...}.
SLA_BREACHED = "SlaBreached"

# Deal events that change nothing outside the deal's own row (and its stage stays).
DEAL_STATE_ONLY = frozenset(
    {
        DEAL_CREATED,
        FIELDS_UPDATED,
        DEAL_MOVED,
        DEAL_WON,
        DEAL_LOST,
        DEAL_DISQUALIFIED,
        DEAL_REASSIGNED,
        DEAL_MIGRATED,
    }
)


@dataclass(frozen=True)
class Event:
    """One thing that happened: its type, the stream it belongs to, when, by whom, and data."""

    type: str
    stream: str
    at: datetime
    actor: str
    data: dict[str, Any] = field(default_factory=dict)


def deal_stream(deal_id: str) -> str:
    """The stream name of a deal's events."""
    return f"deal:{deal_id}"


def stream_id(stream: str) -> str:
    """The id part of a stream name (``deal:D-7`` gives ``D-7``)."""
    return stream.split(":", 1)[1]
