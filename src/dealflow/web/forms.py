"""Reading what a form sent: each value checked for presence and length, with an error naming the field."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from starlette.datastructures import FormData

from dealflow.errors import InvalidInput

SHORT, LONG = 500, 10_000
FIELD_PREFIX = "field."


def text(form: FormData, name: str, *, max_length: int = SHORT, required: bool = True) -> str | None:
    """A text value, stripped; refused when missing (if required) or longer than ``max_length``."""
    raw = form.get(name)
    value = raw.strip() if isinstance(raw, str) else ""
    if len(value) > max_length:
        raise InvalidInput(f"too long ({len(value):,} characters; at most {max_length:,})", field=name)
    if not value:
        if required:
            raise InvalidInput("is required", field=name)
        return None
    return value


def required_text(form: FormData, name: str, *, max_length: int = SHORT) -> str:
    """A text value that must be given."""
    value = text(form, name, max_length=max_length)
    assert value is not None
    return value


def checkbox(form: FormData, name: str) -> bool:
    """True when a checkbox was ticked."""
    return form.get(name) in ("on", "true", "1", "yes")


def moment(form: FormData, name: str) -> datetime:
    """A date (end of that day, UTC) or a ``datetime-local`` value (taken as UTC)."""
    raw = required_text(form, name, max_length=40)
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(17, 0), tzinfo=UTC)
        found = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"not a date: {raw[:40]!r} (use YYYY-MM-DD)", field=name) from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def field_values(form: FormData) -> dict[str, str]:
    """The deal fields a form filled in (inputs named ``field.<name>``), blanks left out."""
    found: dict[str, str] = {}
    for key in form:
        if key.startswith(FIELD_PREFIX):
            name = key.removeprefix(FIELD_PREFIX)
            value = text(form, key, max_length=LONG, required=False)
            if value is not None:
                found[name[:64]] = value
    if len(found) > 200:
        raise InvalidInput("too many fields at once (at most 200)", field="fields")
    return found
