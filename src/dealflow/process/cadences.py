"""Which cadence a lead or a deal follows, when it starts, and the dated plan of its touches.

A process declares two cadences: ``leads.cadence`` for new leads (started at capture unless it
says ``start: on_request``) and ``cadence`` for deals (started on request unless it says
``start: on_create``). Both stop early on what their ``stop_on`` lists (a reply, a meeting).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from dealflow.process.models import DEFAULT_CADENCE, DEFAULT_LEAD_CADENCE, Cadence, Process

SubjectKind = Literal["lead", "deal"]
OUTCOMES = ("none", "reply", "meeting")
ENOUGH_TOUCHES = 5


@dataclass(frozen=True)
class PlannedTouch:
    """One touch of a started cadence, with the day it is due."""

    step: int
    day: int
    channel: str
    template: str
    due_on: date


def cadence_for(process: Process | None, kind: SubjectKind) -> Cadence:
    """The cadence a lead or a deal of ``process`` follows (the shipped defaults without a process)."""
    if process is None:
        return DEFAULT_LEAD_CADENCE if kind == "lead" else DEFAULT_CADENCE
    return process.leads.cadence if kind == "lead" else process.cadence


def starts_on_create(cadence: Cadence, kind: SubjectKind) -> bool:
    """Whether the cadence starts by itself when the lead is captured or the deal created."""
    if cadence.start is None:
        return kind == "lead"
    return cadence.start == "on_create"


def plan(cadence: Cadence, started_on: date) -> list[PlannedTouch]:
    """The touches of ``cadence`` dated from the day it started, step 1 first."""
    return [
        PlannedTouch(step=i, day=t.day, channel=t.channel, template=t.template, due_on=started_on + timedelta(t.day))
        for i, t in enumerate(cadence.touches, start=1)
    ]
