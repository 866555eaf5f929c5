"""Service levels: when a stage stay or a handoff is late, and the SlaBreached event that says so."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dealflow.domain import events as ev
from dealflow.domain.decisions import Actor, event
from dealflow.domain.events import Event

SYSTEM = Actor(id="system", roles=())


def _breach(deal_id: str, since: datetime, due: datetime, now: datetime, **data: Any) -> Event | None:
    if now <= due:
        return None
    times = {"since": since.isoformat(), "due_at": due.isoformat()}
    return event(ev.SLA_BREACHED, ev.deal_stream(deal_id), SYSTEM, now, deal_id=deal_id, **data, **times)


def stage_breach(
    deal_id: str, *, stage: str, owner: str, entered_at: datetime, sla: timedelta, now: datetime
) -> Event | None:
    """The SlaBreached event of a deal in ``stage`` since ``entered_at`` past its ``sla``, or None."""
    return _breach(deal_id, entered_at, entered_at + sla, now, kind="stage", stage=stage, owner=owner)


def handoff_breach(
    deal_id: str, *, handoff_id: str, stage: str, receiver: str, created_at: datetime, due_at: datetime, now: datetime
) -> Event | None:
    """The SlaBreached event of a handoff its receiver has not accepted by ``due_at``, or None."""
    return _breach(deal_id, created_at, due_at, now, kind="handoff", handoff_id=handoff_id, stage=stage, owner=receiver)
