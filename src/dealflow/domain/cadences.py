"""Cadences: starting one on a lead or a deal, recording its touches, stopping it.

A cadence runs on one subject (``lead:L-1`` or ``deal:D-1``) at a time. Touches are done in
order: recording a touch always does the next open step. A touch whose outcome the cadence
stops on (a reply, a meeting booked) ends it; so does the last touch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from dealflow.domain import events as ev
from dealflow.domain.decisions import Actor, Decision, Refusal, event
from dealflow.errors import InvalidInput
from dealflow.process.cadences import OUTCOMES, PlannedTouch
from dealflow.process.models import Cadence

NOTE_LIMIT = 2000
STOP_REASONS = ("reply", "meeting", "completed", "manual")


@dataclass(frozen=True)
class RunTouch:
    """One touch of a running cadence and whether it is done."""

    step: int
    channel: str
    template: str
    due_on: date
    done: bool


@dataclass(frozen=True)
class CadenceRun:
    """A running cadence: the event that started it (``run``), what stops it, and its touches."""

    subject: str
    run: int
    cadence: str
    stop_on: tuple[str, ...]
    touches: tuple[RunTouch, ...]

    @property
    def next_touch(self) -> RunTouch | None:
        """The first touch not yet done."""
        return next((t for t in self.touches if not t.done), None)


def start_cadence(
    subject: str,
    cadence: Cadence,
    planned: list[PlannedTouch],
    *,
    owner: str,
    status: str,
    running: bool,
    actor: Actor,
    now: datetime,
) -> Decision:
    """The CadenceStarted event of a new cadence on an open subject with none running."""
    if status != "open":
        return Refusal(f"{ev.stream_id(subject)} is {status}: a cadence runs only while it is open")
    if running:
        return Refusal(f"{ev.stream_id(subject)} already has a cadence running; stop it first")
    touches = [
        {"step": p.step, "day": p.day, "channel": p.channel, "template": p.template, "due_on": p.due_on.isoformat()}
        for p in planned
    ]
    return [
        event(
            ev.CADENCE_STARTED, subject, actor, now,
            cadence=cadence.name, started_on=now.date().isoformat(), owner=owner,
            stop_on=list(cadence.stop_on), touches=touches,
        )
    ]  # fmt: skip


def _no_run(subject: str) -> Refusal:
    return Refusal(f"{ev.stream_id(subject)} has no cadence running (start one with `dealflow cadence start`)")


def record_touch(
    subject: str, run: CadenceRun | None, *, outcome: str, note: str | None, actor: Actor, now: datetime
) -> Decision:
    """The TouchDone event of the next open step, and CadenceStopped when it ends the cadence."""
    if outcome not in OUTCOMES:
        raise InvalidInput(f"must be one of {', '.join(OUTCOMES)}, not {outcome[:40]!r}", field="outcome")
    text = (note or "").strip()
    if len(text) > NOTE_LIMIT:
        raise InvalidInput(f"too long ({len(text):,} characters; at most {NOTE_LIMIT})", field="note")
    touch = run.next_touch if run is not None else None
    if run is None or touch is None:
        return _no_run(subject)
    found = [
        event(
            ev.TOUCH_DONE, subject, actor, now,
            run=run.run, step=touch.step, channel=touch.channel, outcome=outcome,
            due_on=touch.due_on.isoformat(), note=text or None,
        )
    ]  # fmt: skip
    if outcome in run.stop_on:
        found.append(event(ev.CADENCE_STOPPED, subject, actor, now, run=run.run, reason=outcome))
    elif touch.step == run.touches[-1].step:
        found.append(event(ev.CADENCE_STOPPED, subject, actor, now, run=run.run, reason="completed"))
    return found


def stop_cadence(subject: str, run: CadenceRun | None, *, actor: Actor, now: datetime) -> Decision:
    """The CadenceStopped event of a cadence stopped by hand."""
    if run is None:
        return _no_run(subject)
    return [event(ev.CADENCE_STOPPED, subject, actor, now, run=run.run, reason="manual")]
