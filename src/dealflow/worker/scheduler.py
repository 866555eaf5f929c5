"""One pass of the worker: every registered job whose time slot has come, each slot run once.

A slot is claimed by inserting ``(job, slot start)`` into ``job_runs`` and committing: the
primary key lets one worker in, on SQLite as on PostgreSQL, and the others skip the job until
the next slot. The run's end, its count and any error are written back to the same row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError

from dealflow.store import tables as t
from dealflow.store.unit_of_work import Clock, utc_now
from dealflow.worker import jobs as registry
from dealflow.worker.delivery import worker_name
from dealflow.worker.jobs import Job

log = logging.getLogger("dealflow.worker")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def slot_of(now: datetime, period: timedelta) -> datetime:
    """The start of the time slot of length ``period`` that ``now`` falls in."""
    step = int(period.total_seconds())
    return EPOCH + timedelta(seconds=int((now - EPOCH).total_seconds()) // step * step)


@dataclass(frozen=True)
class JobResult:
    """What one job did in a pass: ran (or was left to another worker), its count, any error."""

    name: str
    ran: bool
    done: int = 0
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Worker:
    """Runs the jobs on one workspace; several may run side by side on one PostgreSQL."""

    engine: Engine
    jobs: Mapping[str, Job] = field(default_factory=lambda: registry.JOBS)
    every: Mapping[str, timedelta | None] = field(default_factory=lambda: registry.EVERY)
    name: str = field(default_factory=worker_name)

    def period(self, job: str) -> timedelta | None:
        """How often ``job`` runs (None: every pass)."""
        return self.every.get(job, registry.DEFAULT_PERIOD)

    def claim_slot(self, job: str, slot: datetime, now: datetime) -> bool:
        """Record that this worker runs ``job`` in ``slot``; False when another worker has."""
        row = {"job": job, "slot": slot, "worker": self.name[:64], "started_at": now}
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(t.job_runs), row)
        except IntegrityError:
            return False
        return True

    def run_pass(self, now: datetime) -> list[JobResult]:
        """Run every job due at ``now`` once (those of a time slot, then those of every pass); a
        failing job is logged and the others still run."""
        results = []
        # The jobs of a slot first, then those of every pass: what they queue is delivered at once.
        ordered = sorted(self.jobs.items(), key=lambda item: self.period(item[0]) is None)
        for name, job in ordered:
            period = self.period(name)
            slot = None if period is None else slot_of(now, period)
            if slot is not None and not self.claim_slot(name, slot, now):
                results.append(JobResult(name, ran=False))
                continue
            started = time.perf_counter()
            error = None
            done = 0
            try:
                done = job(self.engine, now)
            except Exception as exc:
                log.exception("job %s failed", name)
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:2000]
            seconds = time.perf_counter() - started
            if slot is not None:
                with self.engine.begin() as connection:
                    connection.execute(
                        update(t.job_runs)
                        .where(t.job_runs.c.job == name, t.job_runs.c.slot == slot)
                        .values(finished_at=now + timedelta(seconds=seconds), done=done, error=error)
                    )
            results.append(JobResult(name, ran=True, done=done, error=error, seconds=seconds))
        return results

    def run(
        self,
        *,
        interval: float,
        once: bool = False,
        clock: Clock = utc_now,
        report: Callable[[list[JobResult]], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Run passes every ``interval`` seconds (one with ``once``) until ``stop`` says so."""
        while True:
            started = time.monotonic()
            results = self.run_pass(clock())
            if report is not None:
                report(results)
            if once or stop():
                return
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
