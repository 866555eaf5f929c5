"""What every import produces: one history per deal, in the words of the source system, and a
data-quality report of everything that could not be taken as it was."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from statistics import median
from typing import Literal, NamedTuple

Outcome = Literal["won", "lost", "disqualified"]

# Stage names that mean the deal ended, as CRMs spell them (compared after slugging).
OUTCOME_NAMES: dict[str, Outcome] = {
    "won": "won",
    "closed_won": "won",
    "closedwon": "won",
    "deal_won": "won",
    "lost": "lost",
    "closed_lost": "lost",
    "closedlost": "lost",
    "deal_lost": "lost",
    "disqualified": "disqualified",
    "unqualified": "disqualified",
    "closed_disqualified": "disqualified",
}


class StageEntry(NamedTuple):
    """The deal entered ``stage`` (the source's stage name) at ``at``."""

    stage: str
    at: datetime
    amount: Decimal | None = None


@dataclass
class DealHistory:
    """One deal as the source system knew it: who, what, and the stages it went through."""

    ref: str  # the source system's id of the deal
    title: str
    row: int  # the first line of the file that describes it, for the report
    owner: str | None = None  # a person's name as written in the source
    team: str | None = None
    account: str | None = None
    amount: Decimal | None = None  # known from the start
    closing_amount: Decimal | None = None  # known when it closed (snapshot exports)
    close_date: date | None = None
    fields: dict[str, str] = field(default_factory=dict)  # source, segment, product...
    entries: list[StageEntry] = field(default_factory=list)  # in order of time
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Issue:
    """Something in the file that could not be taken as it was, and what was done about it."""

    code: str
    message: str
    row: int | None = None
    ref: str | None = None


@dataclass
class ImportReport:
    """What an import found and did; printed after every import."""

    format: str
    file: str
    rows: int = 0
    deals_seen: int = 0
    deals_new: int = 0
    deals_extended: int = 0
    deals_unchanged: int = 0
    deals_skipped: int = 0
    events_written: int = 0
    users_added: int = 0
    accounts_added: int = 0
    process: str = ""
    issues: list[Issue] = field(default_factory=list)

    def add(self, code: str, message: str, *, row: int | None = None, ref: str | None = None) -> None:
        """Record one data-quality issue."""
        self.issues.append(Issue(code, message, row, ref))

    def issue_counts(self) -> dict[str, int]:
        """How many issues of each kind, most frequent first."""
        return dict(Counter(issue.code for issue in self.issues).most_common())


def slug(text: str, *, limit: int = 64) -> str:
    """A lowercase identifier made of letters, digits and underscores ("Closed Won" -> "closed_won")."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    value = re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")
    return value[:limit].rstrip("_") or "x"


def person_id(name: str) -> str:
    """The user id for a person's name as written in a source ("Moses Frase" -> "moses-frase")."""
    return slug(name).replace("_", "-")


@lru_cache(maxsize=4096)
def outcome_of(stage_name: str) -> Outcome | None:
    """The outcome a stage name stands for ("Closed Won" -> won), or None for a working stage."""
    return OUTCOME_NAMES.get(slug(stage_name))


def stages_by_probability(probabilities: dict[str, list[float]], fallback: list[str]) -> list[str]:
    """The working stages in ``fallback`` order re-sorted by the median win probability the source gave
    each (CRMs raise it along the pipeline); ties keep ``fallback`` order. Unchanged unless every stage
    has a probability."""
    if not fallback or any(not probabilities.get(stage) for stage in fallback):
        return fallback
    return sorted(fallback, key=lambda stage: (median(probabilities[stage]), fallback.index(stage)))
