"""Turning what a user typed into a field's typed value, or a clear error naming the field."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dealflow.errors import InvalidInput
from dealflow.process.models import Process

MAX_TEXT = 10_000
MAX_MONEY = Decimal("1e15")


def _text(name: str, raw: str) -> str:
    value = raw.strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"too long ({len(value):,} characters; at most {MAX_TEXT:,})", field=name)
    return value


def _money(name: str, raw: Any) -> str:
    try:
        value = Decimal(str(raw).strip().replace(",", "").removeprefix("$"))
    except InvalidOperation:
        raise InvalidInput(f"not an amount: {str(raw)[:40]!r}", field=name) from None
    if not value.is_finite():
        raise InvalidInput(f"not an amount: {str(raw)[:40]!r}", field=name)
    if value < 0:
        raise InvalidInput(f"must not be negative (got {value})", field=name)
    if value >= MAX_MONEY:
        raise InvalidInput(f"too large (got {value})", field=name)
    return str(value.quantize(Decimal("0.01")))


def _number(name: str, raw: Any) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise InvalidInput(f"not a number: {str(raw)[:40]!r}", field=name) from None
    if not math.isfinite(value):
        raise InvalidInput(f"not a finite number: {raw!r}", field=name)
    return value


def parse_date(name: str, raw: Any) -> date:
    """A calendar date written as YYYY-MM-DD."""
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise InvalidInput(f"not a date: {str(raw)[:40]!r} (write YYYY-MM-DD)", field=name) from None


def parse_field(process: Process, name: str, raw: Any) -> Any:
    """The JSON value to store for field ``name``; None clears it. Raises InvalidInput."""
    kind = process.field_type(name)
    if kind is None:
        known = ", ".join(sorted([*process.fields, "amount", "close_date", "title"]))
        raise InvalidInput(f"unknown field (fields of {process.key}: {known})", field=name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if name == "title":
            raise InvalidInput("must not be empty", field=name)
        return None
    match kind:
        case "money":
            return _money(name, raw)
        case "number":
            return _number(name, raw)
        case "date":
            return parse_date(name, raw).isoformat()
        case "choice":
            choices = process.fields[name].choices
            value = str(raw).strip()
            if value not in choices:
                raise InvalidInput(f"{value[:40]!r} is not one of: {', '.join(choices)}", field=name)
            return value
        case _:
            return _text(name, str(raw))


def parse_fields(process: Process, raw: dict[str, Any]) -> dict[str, Any]:
    """Parse several fields at once, reporting every bad one in a single error."""
    parsed: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in raw.items():
        try:
            parsed[name] = parse_field(process, name, value)
        except InvalidInput as exc:
            problems.append(exc.message)
    if problems:
        raise InvalidInput("; ".join(problems))
    return parsed
