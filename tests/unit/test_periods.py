"""Reporting periods: the forms people write, their bounds, and clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dealflow.analytics.periods import parse_period, period_of
from dealflow.errors import InvalidInput


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026", at(2026, 1, 1), at(2027, 1, 1)),
        ("2026-q4", at(2026, 10, 1), at(2027, 1, 1)),
        ("2026-02", at(2026, 2, 1), at(2026, 3, 1)),
        ("2026-12", at(2026, 12, 1), at(2027, 1, 1)),
        ("2026-W01", at(2025, 12, 29), at(2026, 1, 5)),
    ],
)
def test_periods_have_half_open_bounds(text: str, start: datetime, end: datetime) -> None:
    period = parse_period(text)
    assert (period.start, period.end) == (start, end)
    assert start in period
    assert end not in period


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-Q5", "quarters 1 to 4"),
        ("2026-13", "months run from 01 to 12"),
        ("2026-W54", "no ISO week 54"),
        ("Q1 2026", "is not a period"),
    ],
)
def test_impossible_periods_are_named(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_period(text)


def test_previous_periods_cross_year_boundaries() -> None:
    assert parse_period("2026-Q1").previous().label == "2025-Q4"
    assert parse_period("2026-01").previous(2).label == "2025-11"
    assert parse_period("2026-W01").previous().label == "2025-W52"
    assert period_of(at(2026, 5, 17, 13), "quarter").label == "2026-Q2"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("this-quarter", "2026-Q1"),
        ("last-quarter", "2025-Q4"),
        ("Next-Quarter", "2026-Q2"),
        ("last-month", "2026-01"),
        ("this-year", "2026"),
        ("next-week", "2026-W07"),
    ],
)
def test_a_relative_period_is_the_absolute_one_around_now(text: str, label: str) -> None:
    now = datetime(2026, 2, 3, 12, tzinfo=UTC)  # a Tuesday of ISO week 6
    found = parse_period(text, now)
    assert found.label == label
    assert found == parse_period(label)


def test_an_unknown_relative_period_names_the_forms() -> None:
    with pytest.raises(InvalidInput, match="this-, last- or next-"):
        parse_period("previous-quarter", datetime(2026, 2, 3, tzinfo=UTC))
