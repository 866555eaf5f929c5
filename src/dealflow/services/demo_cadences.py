"""The demo's follow-up: leads captured over the last weeks and a few open deals, each with a
cadence whose touches were done on time, late, or not yet, and some answered with a reply or a
meeting, so that my day and the cadence metrics have something to show."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import Engine

from dealflow.services import cadences as sc
from dealflow.services import leads as sl
from dealflow.store import cadence_tasks as tasks
from dealflow.store import queries
from dealflow.store.unit_of_work import UnitOfWork

FOLLOWED_LEADS = (
    ("Ines Duarte", "Vantage Labs", "inbound"),
    ("Marco Bellini", "Westbrook Supply", "event"),
    ("Aiko Tanaka", "Yellowpine Media", "referral"),
    ("Omari Jones", "Zephyr Wind", "outbound"),
    ("Clara Weiss", "Alder Health", "inbound"),
    ("Ravi Menon", "Bluefin Marine", "outbound"),
    ("Sara Lind", "Crescent Law", "event"),
    ("Tomas Novak", "Delta Freight", "inbound"),
    ("Nadia Karim", "Emberly Foods", "referral"),
    ("Felix Brandt", "Foxglove Retail", "outbound"),
    ("Grace Obi", "Glacier Water", "inbound"),
    ("Hugo Silva", "Hollow Oak Schools", "event"),
)


def _uow(engine: Engine, moment: datetime) -> UnitOfWork:
    return UnitOfWork(engine, clock=lambda: moment)


def _at(day: datetime, hours: float) -> datetime:
    return datetime.combine(day.date(), time(9), tzinfo=UTC) + timedelta(hours=hours)


def _follow_up(engine: Engine, rng: random.Random, subject: str, limit: datetime) -> None:
    """Work a subject's cadence up to ``limit``: most touches on time, some late, a few left
    undone (they wait on my day), some answered."""
    while True:
        with engine.connect() as connection:
            run = tasks.running(connection, subject=subject)
            waiting = tasks.next_task(connection, subject=subject)
        touch = run.next_touch if run is not None else None
        if touch is None or waiting is None:
            return
        owner = waiting.owner
        due = datetime.combine(touch.due_on, time(), tzinfo=UTC)
        lateness = rng.choices((0, 2, 4), weights=(70, 20, 10))[0]
        when = _at(due + timedelta(days=lateness), rng.uniform(0, 8))
        if when > limit or rng.random() < 0.12:
            return  # not done yet: due today, or overdue on the owner's day
        outcome = rng.choices(("none", "reply", "meeting"), weights=(84, 10, 6))[0]
        with _uow(engine, when) as uow:
            sc.record_touch(uow=uow, actor_id=owner, subject=subject, outcome=outcome)


def seed_cadences(engine: Engine, *, rng: random.Random, limit: datetime, owners: tuple[str, ...]) -> int:
    """Capture the followed leads over the last three weeks, start cadences on a few young open
    deals, and work them up to ``limit`` (the fresh leads captured today keep their first touch
    due); the number of cadences worked."""
    subjects = []
    for i, (name, company, source) in enumerate(FOLLOWED_LEADS):
        captured = limit - timedelta(days=rng.uniform(1, 22))
        with _uow(engine, captured) as uow:
            email = f"{name.split()[0].lower()}@{company.split()[0].lower()}.example"
            lead_id = sl.capture_lead(
                uow=uow, actor_id=owners[i % len(owners)], name=name, company=company, email=email, source=source
            )
        subjects.append(f"lead:{lead_id}")
    with engine.connect() as connection:
        young = [r for r in queries.list_deals(connection, status="open", limit=500) if r.stage == "prospecting"]
    for row in young[:6]:
        started = min(row.stage_entered_at + timedelta(hours=1), limit)
        with _uow(engine, started) as uow:
            sc.start_cadence(uow=uow, actor_id=row.owner, subject=f"deal:{row.id}")
        subjects.append(f"deal:{row.id}")
    for subject in subjects:
        _follow_up(engine, rng, subject, limit)
    return len(subjects)
