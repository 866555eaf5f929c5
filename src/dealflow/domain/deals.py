"""A deal's state and how each event changes it (``evolve``), the same on live use and replay."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, overload

from pydantic import BaseModel, ConfigDict

from dealflow.domain import events as ev
from dealflow.domain.events import Event

Status = Literal["open", "won", "lost", "disqualified"]
# How the deal came into its current stage: through its gate (or a move that needs none), by an
# override of the gate, or, in imported history, by a move the process does not allow.
Entry = Literal["gate", "override", "forbidden"]


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(_State):
    """A captured value with who supplied it and when."""

    value: Any
    by: str
    at: datetime


class ActivityRef(_State):
    """What a gate needs to know of an activity."""

    kind: str
    at: datetime
    by: str


class ContactLink(_State):
    """A contact attached to a deal in a role (economic buyer, champion...)."""

    contact_id: str
    role: str
    by: str
    at: datetime


class NextStep(_State):
    """The single documented next action of an open deal."""

    action: str
    owner: str
    due: datetime
    buyer_confirmed: bool
    by: str
    at: datetime


class _Moment(Protocol):
    """A time, or a column of times in a query: anything compared with a datetime."""

    def __le__(self, other: datetime, /) -> Any: ...


@overload
def overdue(due: datetime, now: datetime) -> bool: ...
@overload
def overdue(due: _Moment, now: datetime) -> Any: ...
def overdue(due: Any, now: datetime) -> Any:
    """Whether a next step due at ``due`` is overdue at ``now``: once its time has come it is no
    longer ahead (due at or before ``now``). The one rule for the gate, inspection, metrics,
    reviews, digests and pages; given a column, the condition a query filters on."""
    return due <= now


class PendingHandoff(_State):
    """A handoff created by the last move and not yet accepted or sent back."""

    id: str
    from_owner: str
    to_owner: str
    from_stage: str
    to_stage: str
    due_at: datetime


class Deal(_State):
    """Everything the rules need to know of one deal."""

    id: str
    title: str
    process: str
    process_version: int
    account_id: str | None = None
    owner: str
    stage: str
    status: Status = "open"
    created_at: datetime
    stage_entered_at: datetime
    closed_at: datetime | None = None
    outcome_reason: str | None = None
    fields: dict[str, Evidence] = {}
    activities: tuple[ActivityRef, ...] = ()
    contacts: tuple[ContactLink, ...] = ()
    next_step: NextStep | None = None
    qualification: dict[str, dict[str, Evidence]] = {}
    approvals: dict[str, Evidence] = {}
    documents: dict[str, Evidence] = {}
    handoff: PendingHandoff | None = None
    entered_by: Entry = "gate"
    close_date_pushes: int = 0
    version: int = 0

    def value(self, name: str) -> Any:
        """The current value of a field, or None when it was never captured or was cleared."""
        evidence = self.fields.get(name)
        return None if evidence is None else evidence.value

    @property
    def amount(self) -> Decimal | None:
        """The deal amount, if captured."""
        raw = self.value("amount")
        return None if raw is None else Decimal(str(raw))

    @property
    def close_date(self) -> date | None:
        """The expected close date, if captured."""
        raw = self.value("close_date")
        return None if raw is None else date.fromisoformat(str(raw))


def _evidence(event: Event, value: Any) -> Evidence:
    return Evidence(value=value, by=event.actor, at=event.at)


def entered_by(data: dict[str, Any]) -> Entry:
    """How the creation or move whose payload is ``data`` brought the deal into its stage."""
    if data.get("override"):
        return "override"
    return "forbidden" if data.get("forbidden") else "gate"


def _created(event: Event) -> Deal:
    data = event.data
    fields = {k: _evidence(event, v) for k, v in data.get("fields", {}).items() if v is not None}
    return Deal(
        id=ev.stream_id(event.stream),
        title=data["title"],
        process=data["process"],
        process_version=data["process_version"],
        account_id=data.get("account_id"),
        owner=data["owner"],
        stage=data["stage"],
        created_at=event.at,
        stage_entered_at=event.at,
        fields=fields,
        entered_by=entered_by(data),
        version=1,
    )


def _fields_updated(deal: Deal, event: Event) -> dict[str, Any]:
    fields = dict(deal.fields)
    pushes = deal.close_date_pushes
    for name, value in event.data["fields"].items():
        if name == "close_date" and deal.close_date and value and value > deal.close_date.isoformat():
            pushes += 1
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = _evidence(event, value)
    return {"fields": fields, "close_date_pushes": pushes}


def _qualified(deal: Deal, event: Event) -> dict[str, Any]:
    framework, element = event.data["framework"], event.data["element"]
    scores = {k: dict(v) for k, v in deal.qualification.items()}
    card = scores.setdefault(framework, {})
    if event.data["confirmed"]:
        card[element] = _evidence(event, event.data.get("note") or "")
    else:
        card.pop(element, None)
    return {"qualification": scores}


def _moved(deal: Deal, event: Event) -> dict[str, Any]:
    return {"stage": event.data["to"], "stage_entered_at": event.at, "entered_by": entered_by(event.data)}


def _handoff_created(deal: Deal, event: Event) -> dict[str, Any]:
    d = event.data
    pending = PendingHandoff(
        id=d["id"],
        from_owner=d["from_owner"],
        to_owner=d["to_owner"],
        from_stage=d["from_stage"],
        to_stage=d["to_stage"],
        due_at=datetime.fromisoformat(d["due_at"]),
    )
    return {"handoff": pending}


def _handoff_returned(deal: Deal, event: Event) -> dict[str, Any]:
    assert deal.handoff is not None
    return {"handoff": None, "stage": deal.handoff.from_stage, "stage_entered_at": event.at, "entered_by": "gate"}


def _migrated(deal: Deal, event: Event) -> dict[str, Any]:
    """Onto the new version; a deal whose stage is mapped onto another starts a stay there."""
    to_stage = event.data["to_stage"]
    moved = {"stage": to_stage, "stage_entered_at": event.at} if to_stage != deal.stage else {}
    return {"process_version": event.data["to_version"], **moved}


def _next_step_at_handoff(deal: Deal, data: dict[str, Any]) -> dict[str, Any]:
    """At an accepted handoff the sender's next step passes to the receiver, or is cleared."""
    step = deal.next_step
    if step is None or "next_step" not in data:  # accepted before handoffs said (kept as it was)
        return {}
    if data["next_step"] == "reset":
        return {"next_step": None}
    if step.owner == data.get("from_owner"):
        return {"next_step": step.model_copy(update={"owner": data["to_owner"]})}
    return {}


def _closed(status: Status, event: Event) -> dict[str, Any]:
    return {"status": status, "closed_at": event.at, "outcome_reason": event.data["reason"]}


def _changes(deal: Deal, event: Event) -> dict[str, Any]:
    data = event.data
    match event.type:
        case ev.FIELDS_UPDATED:
            return _fields_updated(deal, event)
        case ev.ACTIVITY_LOGGED:
            ref = ActivityRef(kind=data["kind"], at=datetime.fromisoformat(data["at"]), by=event.actor)
            return {"activities": (*deal.activities, ref)}
        case ev.NEXT_STEP_SET:
            step = NextStep(
                action=data["action"],
                owner=data["owner"],
                due=datetime.fromisoformat(data["due"]),
                buyer_confirmed=data["buyer_confirmed"],
                by=event.actor,
                at=event.at,
            )
            return {"next_step": step}
        case ev.CONTACT_ATTACHED:
            link = ContactLink(contact_id=data["contact_id"], role=data["role"], by=event.actor, at=event.at)
            return {"contacts": (*deal.contacts, link)}
        case ev.QUALIFICATION_SCORED:
            return _qualified(deal, event)
        case ev.APPROVAL_RECORDED:
            approval = _evidence(event, data.get("note") or "")
            return {"approvals": {**deal.approvals, data["approval"]: approval}}
        case ev.DOCUMENT_ATTACHED:
            document = _evidence(event, {"name": data["name"], "url": data.get("url")})
            return {"documents": {**deal.documents, data["document"]: document}}
        case ev.DEAL_MOVED:
            return _moved(deal, event)
        case ev.HANDOFF_CREATED:
            return _handoff_created(deal, event)
        case ev.HANDOFF_ACCEPTED:
            return {"handoff": None, "owner": data["to_owner"], **_next_step_at_handoff(deal, data)}
        case ev.HANDOFF_RETURNED:
            return _handoff_returned(deal, event)
        case ev.DEAL_REASSIGNED:
            return {"owner": data["to_owner"]}
        case ev.DEAL_WON:
            return _closed("won", event)
        case ev.DEAL_LOST:
            return _closed("lost", event)
        case ev.DEAL_DISQUALIFIED:
            return _closed("disqualified", event)
        case ev.DEAL_MIGRATED:
            return _migrated(deal, event)
        case ev.DEAL_REOPENED:
            reopened = {"status": "open", "closed_at": None, "outcome_reason": None, "entered_by": "gate"}
            return {**reopened, "stage": data["stage"], "stage_entered_at": event.at}
        case _:
            return {}


def evolve(deal: Deal | None, event: Event) -> Deal:
    """The deal after ``event``; ``deal`` is None only for the event that creates it."""
    if event.type == ev.DEAL_CREATED:
        return _created(event)
    if deal is None:
        raise ValueError(f"{event.type} for {event.stream} before the deal was created")
    return deal.model_copy(update={**_changes(deal, event), "version": deal.version + 1})
