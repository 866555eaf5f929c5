"""Durations as people write them in process files: ``4h``, ``2d``, ``1w 2d`` or ISO 8601 ``P2D``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, TypeAdapter

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])")
_SHORTHAND = re.compile(r"^(\s*\d+(?:\.\d+)?\s*[mhdw]\s*)+$")
_ISO = TypeAdapter(timedelta)


def parse_duration(text: str) -> timedelta:
    """Parse ``2d``, ``4h 30m``, ``1w`` or ISO 8601 (``P2D``, ``PT4H``) into a timedelta."""
    raw = text.strip().lower()
    if raw and _SHORTHAND.match(raw):
        total = timedelta()
        for amount, unit in _PART.findall(raw):
            total += timedelta(**{_UNITS[unit]: float(amount)})
        if total <= timedelta():
            raise ValueError(f"duration must be positive, got {text!r}")
        return total
    if raw.startswith("p"):
        value = _ISO.validate_python(text.strip().upper())
        if value <= timedelta():
            raise ValueError(f"duration must be positive, got {text!r}")
        return value
    raise ValueError(f"not a duration: {text!r} (write it like 4h, 2d, 1w or P2D)")


def format_duration(value: timedelta) -> str:
    """Write a timedelta back in the shorthand the files use (``2d``, ``4h``, ``90m``)."""
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("write a duration with its unit, like 4h or 2d")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str),
]
