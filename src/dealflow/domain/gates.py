"""Gates: judging a deal against the evidence a stage demands, listing every unmet criterion."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dealflow.domain import access
from dealflow.domain.deals import Deal, Evidence, overdue
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
from dealflow.process.expressions import ExpressionError, evaluate
from dealflow.process.models import Process


@dataclass(frozen=True)
class Unmet:
    """One criterion a deal does not meet, in words a rep understands."""

    kind: str
    message: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.message} ({self.detail})" if self.detail else self.message


@dataclass(frozen=True)
class GateResult:
    """The outcome of a gate: passed, or the full list of what is missing."""

    unmet: tuple[Unmet, ...]

    @property
    def passed(self) -> bool:
        """True when no criterion is unmet."""
        return not self.unmet


def _fresh(evidence: Evidence | None, max_age: timedelta | None, now: datetime, since: datetime | None = None) -> bool:
    if evidence is None or (since is not None and evidence.at < since):
        return False
    return max_age is None or now - evidence.at <= max_age


def _since(criterion: Criterion, deal: Deal) -> datetime | None:
    """The moment from which a criterion counts evidence: the deal's entry into its stage, or None
    (any time) for a criterion that says ``since: ever``."""
    return deal.stage_entered_at if getattr(criterion, "since", "ever") == "stage" else None


def _before(evidence: Evidence | None, since: datetime | None) -> str:
    """The detail of evidence that exists but predates the stage."""
    if evidence is None or since is None or evidence.at >= since:
        return ""
    return f"the one of {evidence.at:%Y-%m-%d} predates this stage"


def _condition_names(deal: Deal, process: Process) -> dict[str, object]:
    names: dict[str, object] = dict.fromkeys(process.fields)
    for name in ("title", "amount", "close_date"):
        names[name] = None
    for name, evidence in deal.fields.items():
        value = evidence.value
        kind = process.field_type(name)
        if kind in ("money", "number") and value is not None:
            value = float(value)
        elif kind == "date" and isinstance(value, str):
            value = date.fromisoformat(value)
        names[name] = value
    return names


def _check_condition(criterion: Condition, deal: Deal, process: Process, now: datetime) -> str | None:
    """None when the condition holds, otherwise a short detail of why not."""
    try:
        holds = evaluate(criterion.expr, names=_condition_names(deal, process), today=now.date())
    except ExpressionError:
        return "a field it needs is missing or of the wrong kind"
    return None if holds else ""


def check(criterion: Criterion, deal: Deal, process: Process, now: datetime) -> Unmet | None:
    """None when the deal meets ``criterion`` at ``now``, otherwise what is missing."""
    detail: str | None
    since = _since(criterion, deal)
    match criterion:
        case FieldCaptured(field=name, max_age=max_age):
            evidence = deal.fields.get(name)
            detail = None if _fresh(evidence, max_age, now, since) else ""
            if evidence is not None and detail is not None:
                detail = f"last captured {evidence.at:%Y-%m-%d}"
        case Condition():
            detail = _check_condition(criterion, deal, process, now)
        case ActivitySince(activity=kind, min=minimum):
            count = sum(1 for a in deal.activities if a.kind == kind and (since is None or a.at >= since))
            detail = None if count >= minimum else f"{count} so far"
        case NextStepSet(buyer_confirmed=confirmed):
            step = deal.next_step
            if step is None:
                detail = "none set"
            elif since is not None and step.at < since:
                detail = f"'{step.action}' was set on {step.at:%Y-%m-%d}, before this stage: set this stage's"
            elif overdue(step.due, now):
                detail = f"'{step.action}' was due {step.due:%Y-%m-%d}"
            elif confirmed and not step.buyer_confirmed:
                detail = f"'{step.action}' is not confirmed by the buyer"
            else:
                detail = None
        case ContactRole(role=role, min=minimum):
            count = len({c.contact_id for c in deal.contacts if c.role == role and (since is None or c.at >= since)})
            detail = None if count >= minimum else ""
        case QualificationScore(framework=key, min=minimum, max_age=max_age):
            card = deal.qualification.get(key, {})
            score = sum(1 for e in card.values() if _fresh(e, max_age, now, since))
            detail = None if score >= minimum else f"score {score}"
        case ApprovalRecorded(approval=kind, max_age=max_age):
            approval = deal.approvals.get(kind)
            detail = None if _fresh(approval, max_age, now, since) else _before(approval, since)
            if approval is not None and not access.approval_counts(
                approval.by, process.approval(kind), owner=deal.owner
            ):
                detail = f"approved by {approval.by}, who owns the deal"
        case DocumentAttached(document=kind, max_age=max_age):
            document = deal.documents.get(kind)
            detail = None if _fresh(document, max_age, now, since) else _before(document, since)
    if detail is None:
        return None
    return Unmet(kind=criterion.kind, message=criterion.describe(), detail=detail)


def evaluate_criteria(criteria: Iterable[Criterion], deal: Deal, process: Process, now: datetime) -> GateResult:
    """Judge ``deal`` against every criterion; never stops at the first unmet one."""
    unmet = tuple(u for c in criteria if (u := check(c, deal, process, now)) is not None)
    return GateResult(unmet)


def required_fields(names: Sequence[str], deal: Deal, process: Process) -> tuple[Unmet, ...]:
    """An unmet entry for each required field the deal has not captured."""
    missing = []
    for name in names:
        if deal.value(name) is None:
            spec = process.fields.get(name)
            label = spec.label if spec and spec.label else name.replace("_", " ").capitalize()
            missing.append(Unmet(kind="required", message=f"{label} not captured"))
    return tuple(missing)


def exit_gate(deal: Deal, process: Process, to_stage: str, now: datetime) -> GateResult:
    """The gate for leaving the deal's stage for ``to_stage``: required data, exit and entry."""
    here = process.stage(deal.stage)
    there = process.stage(to_stage)
    assert here is not None
    assert there is not None
    required = required_fields(here.required, deal, process)
    rest = evaluate_criteria((*here.exit, *there.entry), deal, process, now)
    return GateResult((*required, *rest.unmet))
