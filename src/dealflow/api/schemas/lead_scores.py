"""Bodies of a lead's scorecard, scores, nurture and conversion gate."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from dealflow.analytics.lead_model import describe
from dealflow.api.schemas.common import Body, Key, ShortText, Text
from dealflow.api.schemas.records import LeadPublic
from dealflow.services.leads import LeadView


class ScorecardUpdate(Body):
    """Confirm (or withdraw) one element of the lead's qualification framework, with its evidence."""

    element: Key
    confirmed: bool = True
    note: Text = ""


class LeadRecycle(Body):
    """Park the lead in nurture until a date, with a reason."""

    reason: ShortText = Field(min_length=1)
    until: date


class ElementPublic(BaseModel):
    """One element of the scorecard: confirmed or not, and its note."""

    key: str
    name: str
    confirmed: bool
    note: str | None = None
    by: str | None = None


class ScorecardPublic(BaseModel):
    """The lead's qualification scorecard under its process's framework."""

    framework: str
    score: int
    elements: list[ElementPublic]


class FactorPublic(BaseModel):
    """What moved a score: a rule that fired (with points) or a learned feature (with its weight)."""

    kind: str
    rule: str
    points: float


class ScoresPublic(BaseModel):
    """The lead's scores as computed now, with their factors."""

    fit: int
    intent: int
    total: int
    learned: float | None
    factors: list[FactorPublic]


class ConversionPublic(BaseModel):
    """Whether the lead may become a deal, and what is missing."""

    passed: bool
    missing: list[str]


class LeadDetail(LeadPublic):
    """A lead with its answers, scorecard, scores and conversion gate."""

    process: str | None
    fields: dict[str, Any]
    scorecard: ScorecardPublic | None
    scores: ScoresPublic | None
    conversion: ConversionPublic | None

    @classmethod
    def of(cls, row: dict[str, Any], view: LeadView) -> LeadDetail:
        """The detail of a lead from its row and its view."""
        lead = view.lead
        return cls.model_validate(
            {
                **row,
                "process": view.process.key if view.process else None,
                "fields": {name: e.value for name, e in lead.fields.items()},
                "scorecard": _scorecard(view),
                "scores": _scores(view),
                "conversion": None if view.gate is None else {
                    "passed": view.gate.passed, "missing": [str(u) for u in view.gate.unmet]
                },
            }
        )  # fmt: skip


def _scorecard(view: LeadView) -> ScorecardPublic | None:
    if view.framework is None:
        return None
    card = view.lead.qualification.get(view.framework.key, {})
    elements = [
        ElementPublic(
            key=e.key,
            name=e.name,
            confirmed=e.key in card,
            note=str(card[e.key].value) if e.key in card else None,
            by=card[e.key].by if e.key in card else None,
        )
        for e in view.framework.elements
    ]
    return ScorecardPublic(framework=view.framework.key, score=len(card), elements=elements)


def _scores(view: LeadView) -> ScoresPublic | None:
    if view.score is None:
        return None
    rules = view.score.rules
    factors = [FactorPublic(kind=f.kind, rule=f.rule, points=f.points) for f in rules.factors]
    factors += [FactorPublic(kind="learned", rule=describe(n), points=w) for n, w in view.score.learned_factors]
    return ScoresPublic(
        fit=rules.fit, intent=rules.intent, total=rules.total, learned=view.score.learned, factors=factors
    )
