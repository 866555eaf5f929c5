"""The scoring, conversion and nurture rules of leads (``leads.scoring``, ``leads.conversion``,
``leads.nurture`` in a process file), as typed models.

A scoring rule adds its points when it holds for a lead: either an expression over the lead's
attributes (``company_size >= 50``, ``not free_mail``, ``source == 'demo_request'``) or keywords
looked for in one attribute (a title holding "VP" or "Head of"). Fit rules read who the lead is,
intent rules what they did; judging a lead lives in :mod:`dealflow.domain.lead_scores`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dealflow.process.criteria import Criterion, Key
from dealflow.process.expressions import check_syntax

# What every lead answers (its capture) and the names scoring derives from it and its history.
LEAD_ATTRIBUTES = ("name", "company", "email", "source")
DERIVED_NAMES = (
    "email_domain",
    "free_mail",
    "business_email",
    "resubmissions",
    "days_since_created",
    "days_since_last_seen",
    "qualification",
)
# Answers forms and imports commonly collect (a rule on another name draws a warning, in case of a typo).
COMMON_ANSWERS = (
    "annual_revenue",
    "company_size",
    "country",
    "employees",
    "industry",
    "message",
    "pages",
    "phone",
    "region",
    "revenue",
    "seats",
    "title",
    "utm_campaign",
    "utm_medium",
    "utm_source",
    "website",
)
# Criterion kinds a lead can meet: it has fields and a scorecard, but no stage, activities,
# contacts, approvals or documents until it becomes a deal.
LEAD_CRITERION_KINDS = ("field", "condition", "qualification")
FREE_MAIL_DOMAINS = (
    "aol.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "googlemail.com",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "outlook.com",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "yahoo.com",
    "yandex.ru",
    "zoho.com",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScoreRule(_Model):
    """One rule: ``points`` when ``when`` holds, or when ``field`` holds one of ``keywords``."""

    label: Annotated[str, Field(min_length=1, max_length=200)]
    points: int = Field(ge=-1000, le=1000)
    when: str | None = Field(default=None, min_length=1, max_length=500)
    field: Key | None = None
    keywords: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = ()

    @field_validator("when")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            check_syntax(value)
        return value

    @model_validator(mode="after")
    def _one_test(self) -> ScoreRule:
        if (self.when is None) == (self.field is None):
            raise ValueError("a rule needs either 'when' (an expression) or 'field' with 'keywords'")
        if self.field is not None and not self.keywords:
            raise ValueError(f"a rule on field '{self.field}' needs keywords to look for")
        if self.when is not None and self.keywords:
            raise ValueError("keywords go with 'field', not with 'when'")
        return self


class LeadScoring(_Model):
    """Fit rules (who the lead is) and intent rules (what they did), each with points."""

    fit: tuple[ScoreRule, ...] = ()
    intent: tuple[ScoreRule, ...] = ()
    free_mail_domains: tuple[str, ...] = FREE_MAIL_DOMAINS


class LeadConversion(_Model):
    """The gate a lead passes to become a deal: criteria as in a stage's exit, and who may override it."""

    criteria: tuple[Criterion, ...] = ()
    override_roles: tuple[Key, ...] | None = None  # the process's gate override roles by default


class LeadNurture(_Model):
    """Parking a lead for later: the reason codes allowed (any reason when empty) and how far ahead."""

    reasons: tuple[Key, ...] = ()
    max_days: int = Field(default=365, ge=1, le=3650)


RuleKind = Literal["fit", "intent"]
