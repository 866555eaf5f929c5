"""The jobs the worker runs: a registry of name -> callable ``(engine, now) -> int``.

A job does everything due at ``now`` with set-based SQL, is idempotent (running it twice does
nothing more) and returns how many things it did. :data:`EVERY` says how often each runs: a job
with a period runs once per time slot of that length on the whole workspace (the slot is claimed
in ``job_runs``, so with several workers only one runs it); a job with None runs on every pass
of every worker (it shares its work out itself, like the outbox's claimed rows).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from dealflow.services.lead_scoring import reopen_nurtured
from dealflow.services.reminders import send_daily_reminders
from dealflow.services.routing import escalate_overdue_leads
from dealflow.services.sla import record_sla_breaches
from dealflow.store import outbox
from dealflow.worker.delivery import deliver_outbox

Job = Callable[[Engine, datetime], int]
KEEP = timedelta(days=90)  # how long delivery logs and job runs are kept


def prune_records(engine: Engine, now: datetime) -> int:
    """Forget deliveries, attempts and job runs older than :data:`KEEP`."""
    with engine.begin() as connection:
        return outbox.prune(connection, before=now - KEEP)


JOBS: dict[str, Job] = {
    "deliver_outbox": deliver_outbox,
    "sla_breaches": record_sla_breaches,
    "daily_reminders": send_daily_reminders,
    "prune_records": prune_records,
    "speed_to_lead": escalate_overdue_leads,
    "reopen_nurtured": reopen_nurtured,
}

# How often each job runs (a job not named here: once a minute).
DEFAULT_PERIOD = timedelta(minutes=1)
EVERY: dict[str, timedelta | None] = {
    "deliver_outbox": None,
    "sla_breaches": timedelta(minutes=5),
    "daily_reminders": timedelta(days=1),
    "prune_records": timedelta(days=1),
    "speed_to_lead": timedelta(minutes=1),  # speed-to-lead deadlines are minutes apart
    "reopen_nurtured": timedelta(hours=1),
}
