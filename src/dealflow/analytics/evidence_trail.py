"""Evidence behind a deal's moves: which event supplied each piece of evidence, and a gate's
criteria judged at a moment with the evidence each one found (who recorded it, when)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from dealflow.domain import events as ev
from dealflow.domain.deals import Deal
from dealflow.domain.events import Event
from dealflow.domain.gates import check
from dealflow.process.criteria import (
    ActivitySince,
    ApprovalRecorded,
    Condition,
    ContactRole,
    Criterion,
    DocumentAttached,
    FieldCaptured,
    NextStepSet,
    QualificationScore,
)
from dealflow.process.models import Process


class _Evidence(BaseModel):
    model_config = ConfigDict(frozen=True)


class Proof(_Evidence):
    """A piece of evidence: what it was, who recorded it, when, and the event that holds it."""

    what: str
    by: str
    at: datetime
    seq: int | None = None


class Check(_Evidence):
    """One criterion of a gate, met or not at the moment of a move, with the evidence found."""

    requirement: str
    message: str
    met: bool
    detail: str = ""
    evidence: tuple[Proof, ...] = ()


@dataclass
class EvidenceTrail:
    """The event (seq) behind each piece of evidence a deal holds, kept while replaying."""

    fields: dict[str, int] = field(default_factory=dict)
    activities: list[tuple[int, str]] = field(default_factory=list)  # (seq, summary) per activity
    next_step: int | None = None
    contacts: dict[tuple[str, str], int] = field(default_factory=dict)
    qualification: dict[tuple[str, str], int] = field(default_factory=dict)
    approvals: dict[str, int] = field(default_factory=dict)
    documents: dict[str, int] = field(default_factory=dict)

    def record(self, seq: int, event: Event) -> None:
        """Note the evidence ``event`` brings."""
        data = event.data
        match event.type:
            case ev.DEAL_CREATED | ev.FIELDS_UPDATED:
                for name, value in data.get("fields", {}).items():
                    if value is None:
                        self.fields.pop(name, None)
                    else:
                        self.fields[name] = seq
            case ev.ACTIVITY_LOGGED:
                self.activities.append((seq, str(data.get("summary") or "")))
            case ev.NEXT_STEP_SET:
                self.next_step = seq
            case ev.CONTACT_ATTACHED:
                self.contacts[(data["contact_id"], data["role"])] = seq
            case ev.QUALIFICATION_SCORED:
                self.qualification[(data["framework"], data["element"])] = seq
            case ev.APPROVAL_RECORDED:
                self.approvals[data["approval"]] = seq
            case ev.DOCUMENT_ATTACHED:
                self.documents[data["document"]] = seq


def field_label(process: Process, name: str) -> str:
    spec = process.fields.get(name)
    return spec.label if spec and spec.label else name.replace("_", " ").capitalize()


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def demand(criterion: Criterion) -> str:
    """What a criterion asks for, said positively (a process file words only the failure)."""
    match criterion:
        case FieldCaptured(field=name, max_age=age):
            return f"{name.replace('_', ' ').capitalize()} captured" + (f" within {age.days} days" if age else "")
        case Condition(expr=expr):
            return f"Condition holds: {expr}"
        case ActivitySince(activity=kind, min=count):
            return f"{count} {kind}{'s' * (count > 1)} logged in the stage"
        case NextStepSet(buyer_confirmed=confirmed):
            return "A buyer-confirmed next step in the future" if confirmed else "A next step in the future"
        case ContactRole(role=role):
            return f"A contact with the role {role.replace('_', ' ')}"
        case QualificationScore(framework=key, min=count):
            return f"{key.upper()} score of at least {count}"
        case ApprovalRecorded(approval=kind):
            return f"{kind.replace('_', ' ').capitalize()} approval recorded"
        case DocumentAttached(document=kind):
            return f"{kind.replace('_', ' ').capitalize()} attached"
    return criterion.describe()


def _field_proofs(deal: Deal, names: list[str], trail: EvidenceTrail, *, named: bool = False) -> tuple[Proof, ...]:
    """The captures of fields; ``named`` says which field each is (when several back one criterion)."""
    found = []
    for name in names:
        evidence = deal.fields.get(name)
        if evidence is not None:
            what = f"{name} = {_short(evidence.value)}" if named else f"'{_short(evidence.value)}'"
            found.append(Proof(what=what, by=evidence.by, at=evidence.at, seq=trail.fields.get(name)))
    return tuple(found)


def _proofs(criterion: Criterion, deal: Deal, process: Process, trail: EvidenceTrail) -> tuple[Proof, ...]:
    """The evidence the deal holds for ``criterion``, each with who recorded it and when."""
    match criterion:
        case FieldCaptured(field=name):
            return _field_proofs(deal, [name], trail)
        case Condition(expr=expr):
            names = list(dict.fromkeys(n for n in re.findall(r"[a-z_][a-z0-9_]*", expr) if n in deal.fields))
            return _field_proofs(deal, names, trail, named=True)
        case ActivitySince(activity=kind):
            return tuple(
                Proof(what=f"{a.kind}: {_short(summary)}", by=a.by, at=a.at, seq=seq)
                for a, (seq, summary) in zip(deal.activities, trail.activities, strict=False)
                if a.kind == kind and a.at >= deal.stage_entered_at
            )
        case NextStepSet():
            step = deal.next_step
            if step is None:
                return ()
            confirmed = "confirmed by the buyer" if step.buyer_confirmed else "not confirmed by the buyer"
            what = f"next step '{_short(step.action)}' due {step.due:%Y-%m-%d}, {confirmed}"
            return (Proof(what=what, by=step.by, at=step.at, seq=trail.next_step),)
        case ContactRole(role=role):
            linked = [c for c in deal.contacts if c.role == role]
            what = f"as {role.replace('_', ' ')}"
            return tuple(
                Proof(what=f"{c.contact_id} {what}", by=c.by, at=c.at, seq=trail.contacts.get((c.contact_id, role)))
                for c in linked
            )
        case QualificationScore(framework=key):
            card = deal.qualification.get(key, {})
            seqs = trail.qualification
            return tuple(
                Proof(what=f"{key.upper()} {element} confirmed", by=e.by, at=e.at, seq=seqs.get((key, element)))
                for element, e in card.items()
            )
        case ApprovalRecorded(approval=kind):
            approval = deal.approvals.get(kind)
            if approval is None:
                return ()
            return (Proof(what=f"{kind} approval", by=approval.by, at=approval.at, seq=trail.approvals.get(kind)),)
        case DocumentAttached(document=kind):
            document = deal.documents.get(kind)
            if document is None:
                return ()
            title = document.value.get("name") if isinstance(document.value, dict) else document.value
            what = f"{kind} '{_short(title)}'"
            return (Proof(what=what, by=document.by, at=document.at, seq=trail.documents.get(kind)),)
    return ()


def judge(
    deal: Deal,
    process: Process,
    required: tuple[str, ...],
    criteria: tuple[Criterion, ...],
    at: datetime,
    trail: EvidenceTrail,
) -> tuple[Check, ...]:
    """Each required field and criterion judged on ``deal`` at ``at``, with its evidence."""
    found = []
    for name in required:
        label = field_label(process, name)
        proofs = _field_proofs(deal, [name], trail)
        found.append(
            Check(requirement=f"{label} captured", message=f"{label} not captured", met=bool(proofs), evidence=proofs)
        )
    for criterion in criteria:
        unmet = check(criterion, deal, process, at)
        found.append(
            Check(
                requirement=demand(criterion),
                message=criterion.describe(),
                met=unmet is None,
                detail="" if unmet is None else unmet.detail,
                evidence=_proofs(criterion, deal, process, trail),
            )
        )
    return tuple(found)
