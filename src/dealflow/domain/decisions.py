"""What a rule returns: the events to record, or a refusal that lists every reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from dealflow.domain.events import Event


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user id, the roles they hold and their team."""

    id: str
    roles: tuple[str, ...]
    team: str | None = None

    def holds(self, *roles: str) -> bool:
        """True when the actor holds at least one of ``roles``."""
        return any(role in self.roles for role in roles)


@dataclass(frozen=True)
class Refusal:
    """A rule said no. ``kind`` tells a gate failure from a rule or permission refusal."""

    message: str
    reasons: tuple[str, ...] = ()
    kind: Literal["gate", "rule", "forbidden"] = "rule"


Decision = list[Event] | Refusal


def event(type_: str, stream: str, actor: Actor, now: datetime, **data: Any) -> Event:
    """An event by ``actor`` at ``now`` with ``data`` as its payload."""
    return Event(type=type_, stream=stream, at=now, actor=actor.id, data=data)
