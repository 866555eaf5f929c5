"""What an adapter hands over: the deal histories read from a file and how to name what they create."""

from __future__ import annotations

from dataclasses import dataclass, field

from dealflow.imports.history import DealHistory


@dataclass
class Source:
    """Histories read from an export, with the defaults an import of that format uses."""

    histories: list[DealHistory]
    rows: int
    prefix: str  # prefix of deal ids, so ids from different systems never collide
    process_key: str  # the process deals go into unless --process says otherwise
    process_name: str
    fields: list[str] = field(default_factory=lambda: ["source", "segment", "product"])
    managers: dict[str, str] = field(default_factory=dict)  # manager name -> team
    stages: list[str] | None = None  # the source's working stages in order, when the format knows it
