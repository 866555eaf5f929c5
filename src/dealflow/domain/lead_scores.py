"""Rule-based lead scores: fit (who the lead is) and intent (what they did), with the rules that fired.

A rule reads the lead's answers by name, plus a few derived names: ``email_domain``,
``free_mail`` and ``business_email``, ``resubmissions``, ``days_since_created``,
``days_since_last_seen`` and ``qualification`` (confirmed elements of the process's framework).
A rule that reads an answer the lead never gave does not fire.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dealflow.domain.lead_state import LeadState
from dealflow.process.expressions import ExpressionError, evaluate
from dealflow.process.lead_scoring import DERIVED_NAMES, RuleKind, ScoreRule
from dealflow.process.models import Process

# Answers read as numbers even when no process field declares them (forms send text).
NUMERIC_ANSWERS = frozenset({"company_size", "employees", "annual_revenue", "revenue", "seats", "amount"})


@dataclass(frozen=True)
class Factor:
    """A rule that fired and the points it gave."""

    kind: RuleKind
    rule: str
    points: int

    def as_json(self) -> dict[str, Any]:
        """The factor as an event payload carries it."""
        return {"kind": self.kind, "rule": self.rule, "points": self.points}


@dataclass(frozen=True)
class RuleScore:
    """A lead's fit and intent scores and every rule that fired, the weightiest first."""

    fit: int
    intent: int
    factors: tuple[Factor, ...]

    @property
    def total(self) -> int:
        """Fit and intent together: what lists sort by."""
        return self.fit + self.intent


def _number(value: Any) -> Any:
    try:
        found = float(str(value).replace(",", "").strip())
    except ValueError:
        return value
    return found if math.isfinite(found) else value


def lead_names(lead: LeadState, process: Process, now: datetime) -> dict[str, Any]:
    """The names a rule or condition reads for ``lead``: its answers and the derived names."""
    names: dict[str, Any] = {}
    for name, evidence in lead.fields.items():
        value = evidence.value
        if process.field_type(name) in ("number", "money") or name in NUMERIC_ANSWERS:
            value = _number(value)
        names[name] = value
    email = str(lead.value("email") or "")
    domain = email.rpartition("@")[2].lower() if "@" in email else None
    free = None if domain is None else domain in process.leads.scoring.free_mail_domains
    framework = process.qualification
    derived = {
        "email_domain": domain,
        "free_mail": free,
        "business_email": free is False,
        "resubmissions": lead.resubmissions,
        "days_since_created": (now - lead.created_at).days,
        "days_since_last_seen": (now - lead.last_seen_at).days,
        "qualification": lead.score(framework) if framework else 0,
    }
    assert set(derived) == set(DERIVED_NAMES)
    return names | derived


def _words(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value).lower()
    return str(value).lower()


def holds(rule: ScoreRule, names: dict[str, Any], now: datetime) -> bool:
    """True when ``rule`` fires for a lead with these names."""
    if rule.when is not None:
        try:
            return bool(evaluate(rule.when, names=names, today=now.date()))
        except ExpressionError:
            return False
    value = names.get(rule.field or "")
    if value is None:
        return False
    text = _words(value)
    return any(re.search(rf"(?<![a-z0-9]){re.escape(k.lower())}(?![a-z0-9])", text) for k in rule.keywords)


def score_lead(lead: LeadState, process: Process, now: datetime) -> RuleScore:
    """The lead's fit and intent scores under the process's ``leads.scoring`` rules."""
    names = lead_names(lead, process, now)
    rules = process.leads.scoring
    groups: tuple[tuple[RuleKind, tuple[ScoreRule, ...]], ...] = (("fit", rules.fit), ("intent", rules.intent))
    fired = [
        Factor(kind, rule.label, rule.points) for kind, group in groups for rule in group if holds(rule, names, now)
    ]
    fit = sum(f.points for f in fired if f.kind == "fit")
    intent = sum(f.points for f in fired if f.kind == "intent")
    return RuleScore(fit, intent, tuple(sorted(fired, key=lambda f: -abs(f.points))))
