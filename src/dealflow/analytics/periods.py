"""Reporting periods written the way people say them: ``2026``, ``2026-Q1``, ``2026-03``, ``2026-W09``,
or relative to today: ``this-quarter``, ``last-month``, ``next-year``, ``this-week``..."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dealflow.errors import InvalidInput

_FORMS = "YYYY, YYYY-Qn (n 1-4), YYYY-MM, YYYY-Www, or this-, last- or next- quarter, month, week or year"
_RELATIVE = re.compile(r"(THIS|LAST|NEXT)-(YEAR|QUARTER|MONTH|WEEK)")
_STEPS = {"THIS": 0, "LAST": -1, "NEXT": 1}


@dataclass(frozen=True)
class Period:
    """A half-open span of time [start, end) in UTC, with the label it was written as."""

    label: str
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def previous(self, count: int = 1) -> Period:
        """The period of the same kind ``count`` steps back (``2026-Q1`` gives ``2025-Q4``)."""
        found = self
        for _ in range(count):
            found = parse_period(_shift_label(found.label, -1))
        return found


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def parse_period(text: str, now: datetime | None = None) -> Period:
    """The period ``text`` names, or InvalidInput saying which forms are accepted; a relative one
    (``last-quarter``) is taken from ``now`` (default: the present moment) and labelled as absolute."""
    value = text.strip().upper()
    if match := _RELATIVE.fullmatch(value):
        current = period_of(now or datetime.now(UTC), match.group(2).lower())
        steps = _STEPS[match.group(1)]
        return current if steps == 0 else parse_period(_shift_label(current.label, steps))
    if match := re.fullmatch(r"(\d{4})", value):
        year = int(match.group(1))
        return Period(value, _month_start(year, 1), _month_start(year + 1, 1))
    if match := re.fullmatch(r"(\d{4})-Q(\d)", value):
        year, quarter = int(match.group(1)), int(match.group(2))
        if not 1 <= quarter <= 4:
            raise InvalidInput(f"{text!r}: a year has quarters 1 to 4 (write {_FORMS})", field="period")
        first = 3 * (quarter - 1) + 1
        return Period(value, _month_start(year, first), _month_start(year, first + 3))
    if match := re.fullmatch(r"(\d{4})-(\d{2})", value):
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise InvalidInput(f"{text!r}: months run from 01 to 12 (write {_FORMS})", field="period")
        return Period(value, _month_start(year, month), _month_start(year, month + 1))
    if match := re.fullmatch(r"(\d{4})-W(\d{2})", value):
        year, week = int(match.group(1)), int(match.group(2))
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise InvalidInput(f"{text!r}: {year} has no ISO week {week} (write {_FORMS})", field="period") from None
        return Period(value, _midnight(monday), _midnight(monday + timedelta(days=7)))
    raise InvalidInput(f"{text!r} is not a period (write {_FORMS})", field="period")


def _shift_label(label: str, steps: int) -> str:
    if re.fullmatch(r"\d{4}", label):
        return str(int(label) + steps)
    if match := re.fullmatch(r"(\d{4})-Q(\d)", label):
        index = int(match.group(1)) * 4 + int(match.group(2)) - 1 + steps
        return f"{index // 4}-Q{index % 4 + 1}"
    if match := re.fullmatch(r"(\d{4})-(\d{2})", label):
        index = int(match.group(1)) * 12 + int(match.group(2)) - 1 + steps
        return f"{index // 12}-{index % 12 + 1:02d}"
    start = parse_period(label).start + timedelta(weeks=steps)
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


def period_of(moment: datetime, kind: str) -> Period:
    """The period of kind ``year``, ``quarter``, ``month`` or ``week`` that holds ``moment``."""
    moment = moment.astimezone(UTC)
    match kind:
        case "year":
            return parse_period(f"{moment.year}")
        case "quarter":
            return parse_period(f"{moment.year}-Q{(moment.month - 1) // 3 + 1}")
        case "month":
            return parse_period(f"{moment.year}-{moment.month:02d}")
        case "week":
            year, week, _ = moment.isocalendar()
            return parse_period(f"{year}-W{week:02d}")
    raise InvalidInput(f"unknown period kind {kind!r} (year, quarter, month or week)", field="period")
