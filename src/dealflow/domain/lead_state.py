"""A lead's state as its events build it (``evolve``): what it is, its answers, its scorecard and scores.

A lead's stream is short (created, scored, assigned, qualified...), so the rules read it whole
rather than from a stored copy; the ``leads`` table keeps only what lists sort and filter by.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from dealflow.domain import events as ev
from dealflow.domain.deals import Deal, Evidence
from dealflow.domain.events import Event

_ATTRIBUTES = ("name", "company", "email", "source")


class Scores(BaseModel):
    """The scores last recorded on a lead and the rules that made them."""

    model_config = ConfigDict(frozen=True)

    fit: int = 0
    intent: int = 0
    learned: float | None = None
    factors: tuple[dict[str, Any], ...] = ()


class LeadState(BaseModel):
    """Everything the rules need to know of one lead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    owner: str
    status: str = "open"
    process: str | None = None
    account_id: str | None = None
    created_at: datetime
    last_seen_at: datetime
    fields: dict[str, Evidence] = {}
    resubmissions: int = 0
    qualification: dict[str, dict[str, Evidence]] = {}
    reengage_on: date | None = None
    recycle_reason: str | None = None
    scores: Scores | None = None
    deal_id: str | None = None
    version: int = 0

    def value(self, name: str) -> Any:
        """The lead's answer to ``name``, or None."""
        found = self.fields.get(name)
        return None if found is None else found.value

    @property
    def title(self) -> str:
        """What the lead is called: its company, else the person."""
        return str(self.value("company") or self.value("name") or self.id)

    def score(self, framework: str) -> int:
        """How many elements of ``framework`` are confirmed."""
        return len(self.qualification.get(framework, {}))

    def as_deal(self, *, process: str, version: int, stage: str) -> Deal:
        """The lead seen as a deal about to open, so a gate can judge its fields and scorecard."""
        return Deal(
            id=self.id,
            title=self.title,
            process=process,
            process_version=version,
            owner=self.owner,
            stage=stage,
            created_at=self.created_at,
            stage_entered_at=self.created_at,
            fields=self.fields,
            qualification=self.qualification,
        )


def _answers(event: Event, data: dict[str, Any]) -> dict[str, Evidence]:
    return {str(k): Evidence(value=v, by=event.actor, at=event.at) for k, v in data.items() if v not in (None, "")}


def _created(event: Event) -> LeadState:
    data = event.data
    given = data.get("fields")
    extra: dict[str, Any] = given if isinstance(given, dict) else {}
    attributes = {k: data.get(k) for k in _ATTRIBUTES}
    fields = _answers(event, {**attributes, **{k: v for k, v in extra.items() if k not in _ATTRIBUTES}})
    return LeadState(
        id=ev.stream_id(event.stream),
        owner=data["owner"],
        process=data.get("process"),
        account_id=data.get("account_id"),
        created_at=event.at,
        last_seen_at=event.at,
        fields=fields,
        version=1,
    )


def _qualified(lead: LeadState, event: Event) -> dict[str, Any]:
    framework = event.data["framework"]
    notes = event.data.get("notes") or {}
    cards = {k: dict(v) for k, v in lead.qualification.items()}
    card = cards.setdefault(framework, {})
    for element, confirmed in event.data["confirmed"].items():
        if confirmed:
            card[element] = Evidence(value=notes.get(element) or "", by=event.actor, at=event.at)
        else:
            card.pop(element, None)
    return {"qualification": cards}


def _resubmitted(lead: LeadState, event: Event) -> dict[str, Any]:
    data = event.data
    given = data["fields"] if isinstance(data.get("fields"), dict) else {k: v for k, v in data.items() if k != "form"}
    return {
        "fields": {**lead.fields, **_answers(event, given)},
        "resubmissions": lead.resubmissions + 1,
        "last_seen_at": event.at,
    }


def _changes(lead: LeadState, event: Event) -> dict[str, Any]:
    data = event.data
    match event.type:
        case ev.LEAD_QUALIFIED:
            return _qualified(lead, event)
        case ev.LEAD_SCORED:
            factors = tuple(data.get("factors") or ())
            return {
                "scores": Scores(fit=data["fit"], intent=data["intent"], learned=data.get("learned"), factors=factors)
            }
        case ev.LEAD_RECYCLED:
            until = date.fromisoformat(data["reengage_on"])
            return {"status": "nurture", "reengage_on": until, "recycle_reason": data["reason"]}
        case ev.LEAD_REOPENED:
            return {"status": "open", "reengage_on": None}
        case ev.LEAD_DISQUALIFIED:
            return {"status": "disqualified"}
        case ev.LEAD_CONVERTED:
            return {"status": "converted", "deal_id": data.get("deal_id")}
        case ev.LEAD_RESUBMITTED:  # a form posted again by the same lead: its answers merged in
            return _resubmitted(lead, event)
        case ev.LEAD_ASSIGNED:
            return {"owner": data["owner"]}
        case _:
            return {}


def evolve(lead: LeadState | None, event: Event) -> LeadState:
    """The lead after ``event``; ``lead`` is None only for the event that creates it."""
    if event.type == ev.LEAD_CREATED:
        return _created(event)
    if lead is None:
        raise ValueError(f"{event.type} for {event.stream} before the lead was created")
    return lead.model_copy(update={**_changes(lead, event), "version": lead.version + 1})
