"""The gate of a stage as a checklist: each criterion ticked or not, in the domain's own words, and
for the unmet ones the input that supplies the evidence in place (a field, the next step, a call).

Every verdict comes from :mod:`dealflow.domain.gates`; this module only lays them out for a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dealflow.domain.deals import Deal
from dealflow.domain.gates import check, required_fields
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

# What a page can collect in place for an unmet criterion: "field", "next_step", "activity", "contact",
# "qualification", "approval", "document"; "" for a condition, which is met by changing the fields it reads.
Input = str


@dataclass(frozen=True)
class Item:
    """One criterion of a gate: its words, whether the deal meets it, and how to supply it."""

    message: str
    met: bool
    input: Input = ""
    field: str = ""
    field_type: str = "text"
    label: str = ""
    choices: tuple[str, ...] = ()
    activity: str = ""
    key: str = ""
    elements: tuple[tuple[str, str], ...] = ()


def _field_item(process: Process, name: str, message: str, met: bool) -> Item:
    spec = process.fields.get(name)
    label = spec.label if spec and spec.label else name.replace("_", " ").capitalize()
    return Item(
        message=message, met=met, input="field", field=name, field_type=process.field_type(name) or "text",
        label=label, choices=spec.choices if spec else (),
    )  # fmt: skip


def _words(key: str) -> str:
    return key.replace("_", " ")


def met_words(criterion: Criterion, process: Process) -> str:
    """A met criterion in words: the process file phrases each one as what is missing."""
    match criterion:
        case FieldCaptured(field=name):
            spec = process.fields.get(name)
            return f"{spec.label if spec and spec.label else _words(name).capitalize()} captured"
        case ActivitySince(activity=kind, min=minimum):
            return f"{minimum} {kind}{'s' if minimum > 1 else ''} logged in this stage"
        case NextStepSet(buyer_confirmed=confirmed):
            return "Next step set" + (", confirmed by the buyer" if confirmed else "")
        case ContactRole(role=role):
            return f"Contact with the role {_words(role)} attached"
        case QualificationScore(framework=key, min=minimum):
            return f"{key.upper()} score at least {minimum}"
        case ApprovalRecorded(approval=kind):
            return f"{_words(kind).capitalize()} approval recorded"
        case DocumentAttached(document=kind):
            return f"{_words(kind).capitalize()} attached"
        case Condition(expr=expr):
            return f"Condition holds: {expr}"
    return criterion.describe()


def gate_items(deal: Deal, process: Process, to_stage: str, now: datetime) -> list[Item]:
    """Every criterion of the gate from the deal's stage to ``to_stage``, met or not."""
    here, there = process.stage(deal.stage), process.stage(to_stage)
    if here is None or there is None:
        return []
    items: list[Item] = []
    for name in here.required:
        unmet = required_fields([name], deal, process)
        label = _field_item(process, name, "", True).label
        items.append(_field_item(process, name, str(unmet[0]) if unmet else f"{label} captured", not unmet))
    for criterion in (*here.exit, *there.entry):
        found = check(criterion, deal, process, now)
        message, met = (met_words(criterion, process), True) if found is None else (str(found), False)
        match criterion:
            case FieldCaptured(field=name):
                items.append(_field_item(process, name, message, met))
            case NextStepSet():
                items.append(Item(message=message, met=met, input="next_step"))
            case ActivitySince(activity=kind):
                items.append(Item(message=message, met=met, input="activity", activity=kind))
            case ContactRole(role=role):
                items.append(Item(message=message, met=met, input="contact", key=role, label=_words(role)))
            case QualificationScore(framework=key):
                framework = process.framework(key)
                elements = tuple((e.key, e.name) for e in framework.elements) if framework else ()
                items.append(Item(message=message, met=met, input="qualification", key=key, elements=elements))
            case ApprovalRecorded(approval=kind):
                items.append(Item(message=message, met=met, input="approval", key=kind, label=_words(kind)))
            case DocumentAttached(document=kind):
                items.append(Item(message=message, met=met, input="document", key=kind, label=_words(kind)))
            case _:
                items.append(Item(message=message, met=met))
    return items
