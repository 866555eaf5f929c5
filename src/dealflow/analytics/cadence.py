"""Cadence metrics: are touches done on time, and what does each step bring back.

Read off ``cadence_tasks``. A touch is *on time* when it was done no later than ``grace_days``
after its due day. A touch *was due* when it was done, or when it is still waiting and its
grace has run out; touches of a cadence that stopped before their day are not counted.
Compliance is on-time touches over touches that were due, per rep (the owner when it was done)
and per step. Outcomes count, per step number and per channel, the touches done and how many
brought a reply or a meeting. *Touches to first reply* is, for each cadence that got a reply or
a meeting, the step that got it. Depth sorts the cadences that ended into those that reached
five touches, those answered before five, and those dropped before five without an answer.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, and_, func, or_, select

from dealflow.process.cadences import ENOUGH_TOUCHES
from dealflow.store import tables as t

Kind = Literal["lead", "deal"]
RESPONSES = ("reply", "meeting")
c = t.cadence_tasks.c


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Compliance(_Frozen):
    """Touches that were due for one rep or one step, and how many were done on time."""

    key: str
    due: int
    on_time: int
    late: int
    missed: int
    share_on_time: float | None


class StepOutcome(_Frozen):
    """What the touches of one step number or one channel brought back."""

    key: str
    touches: int
    replies: int
    meetings: int
    reply_rate: float | None
    meeting_rate: float | None


class Depth(_Frozen):
    """How far the cadences of leads or deals went before they ended."""

    kind: str
    running: int
    ended: int
    reached_five: int
    answered_before_five: int
    dropped_before_five: int
    share_reached_five: float | None
    share_dropped_before_five: float | None


class CadenceMetrics(_Frozen):
    """Compliance, step outcomes, touches to first reply and depth, for one scope."""

    as_of: date
    grace_days: int
    kind: str | None
    owner: str | None
    team: str | None
    compliance: Compliance
    by_rep: list[Compliance]
    by_step: list[Compliance]
    outcomes_by_step: list[StepOutcome]
    outcomes_by_channel: list[StepOutcome]
    touches_to_first_reply: dict[int, int]
    depth: list[Depth]

    def as_json(self) -> dict[str, Any]:
        """The metrics as plain JSON values."""
        return self.model_dump(mode="json")


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _scope(kind: Kind | None, owner: str | None, team: str | None) -> list[Any]:
    conditions: list[Any] = []
    if kind is not None:
        conditions.append(c.kind == kind)
    if owner is not None:
        conditions.append(c.owner == owner)
    if team is not None:
        conditions.append(c.owner.in_(select(t.users.c.id).where(t.users.c.team == team)))
    return conditions


def _compliance(connection: Connection, key: Any, scope: list[Any], grace: int, today: date) -> list[Compliance]:
    done = c.status == "done"
    waiting = and_(c.status == "open", c.due_on < today - timedelta(days=grace))
    on_time = and_(done, c.days_late <= grace)
    query = (
        select(
            key.label("k"),
            func.count().filter(on_time),
            func.count().filter(done, c.days_late > grace),
            func.count().filter(waiting),
        )
        .where(or_(done, waiting), *scope)
        .group_by(key)
        .order_by(key)
    )
    found = []
    for k, timely, late, missed in connection.execute(query):
        due = timely + late + missed
        found.append(Compliance(key=str(k), due=due, on_time=timely, late=late, missed=missed,
                                share_on_time=_share(timely, due)))  # fmt: skip
    return found


def _outcomes(connection: Connection, key: Any, scope: list[Any]) -> list[StepOutcome]:
    query = (
        select(key.label("k"), func.count(), func.count().filter(c.outcome == "reply"),
               func.count().filter(c.outcome == "meeting"))
        .where(c.status == "done", *scope)
        .group_by(key)
        .order_by(key)
    )  # fmt: skip
    return [
        StepOutcome(key=str(k), touches=n, replies=r, meetings=m, reply_rate=_share(r, n), meeting_rate=_share(m, n))
        for k, n, r, m in connection.execute(query)
    ]


def _first_replies(connection: Connection, scope: list[Any]) -> dict[int, int]:
    first = (
        select(c.run, func.min(c.step).label("step"))
        .where(c.status == "done", c.outcome.in_(RESPONSES), *scope)
        .group_by(c.run)
        .subquery()
    )
    query = select(first.c.step, func.count()).group_by(first.c.step).order_by(first.c.step)
    return {int(step): int(n) for step, n in connection.execute(query)}


def _depth(connection: Connection, scope: list[Any]) -> list[Depth]:
    runs = (
        select(
            c.run,
            func.min(c.kind).label("kind"),
            func.count().filter(c.status == "done").label("done"),
            func.count().filter(c.status.in_(("planned", "open"))).label("active"),
            func.count().filter(c.outcome.in_(RESPONSES)).label("answered"),
        )
        .where(*scope)
        .group_by(c.run)
        .subquery()
    )
    ended = runs.c.active == 0
    enough = runs.c.done >= ENOUGH_TOUCHES
    query = (
        select(
            runs.c.kind,
            func.count().filter(~ended),
            func.count().filter(ended),
            func.count().filter(ended, enough),
            func.count().filter(ended, ~enough, runs.c.answered > 0),
            func.count().filter(ended, ~enough, runs.c.answered == 0),
        )
        .group_by(runs.c.kind)
        .order_by(runs.c.kind)
    )
    return [
        Depth(kind=kind, running=r, ended=e, reached_five=five, answered_before_five=answered,
              dropped_before_five=dropped, share_reached_five=_share(five, e),
              share_dropped_before_five=_share(dropped, e))
        for kind, r, e, five, answered, dropped in connection.execute(query)
    ]  # fmt: skip


def measure_cadences(
    connection: Connection,
    *,
    today: date,
    grace_days: int = 1,
    kind: Kind | None = None,
    owner: str | None = None,
    team: str | None = None,
) -> CadenceMetrics:
    """The cadence metrics of the touches in scope (one kind of subject, one owner, one team)."""
    scope = _scope(kind, owner, team)
    by_rep = _compliance(connection, c.owner, scope, grace_days, today)
    due = sum(x.due for x in by_rep)
    timely = sum(x.on_time for x in by_rep)
    total = Compliance(
        key="all", due=due, on_time=timely, late=sum(x.late for x in by_rep), missed=sum(x.missed for x in by_rep),
        share_on_time=_share(timely, due),
    )  # fmt: skip
    return CadenceMetrics(
        as_of=today, grace_days=grace_days, kind=kind, owner=owner, team=team, compliance=total, by_rep=by_rep,
        by_step=_compliance(connection, c.step, scope, grace_days, today),
        outcomes_by_step=_outcomes(connection, c.step, scope),
        outcomes_by_channel=_outcomes(connection, c.channel, scope),
        touches_to_first_reply=_first_replies(connection, scope), depth=_depth(connection, scope),
    )  # fmt: skip
