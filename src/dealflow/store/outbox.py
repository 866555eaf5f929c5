"""The outbox: what is to be sent (emails, webhook calls), written with the events that call for it
and delivered by the worker.

A row is claimed by one worker at a time: on PostgreSQL with ``SELECT ... FOR UPDATE SKIP LOCKED``
(several workers share the rows due without waiting on each other), on SQLite with one conditional
UPDATE (SQLite has a single writer). A claim is a lease: a worker that dies leaves its rows to be
claimed again when the lease runs out. Every attempt is logged in ``delivery_attempts``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dealflow.store import tables as t

EMAIL = "email"
WEBHOOK = "webhook"
DUE = ("pending", "failed")  # the statuses of rows still to deliver


@dataclass(frozen=True)
class Message:
    """One thing to send: its idempotence key, kind, payload and, for a webhook, which one."""

    key: str
    kind: str
    payload: dict[str, Any]
    webhook_id: str | None = None
    event_seq: int | None = None


def insert_ignoring(connection: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]) -> int:
    """Insert ``rows``, leaving out those whose ``keys`` are already there; returns rows inserted."""
    if not rows:
        return 0
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=keys).returning(table.c[keys[0]])
    return len(connection.execute(statement, list(rows)).all())


def enqueue(connection: Connection, messages: Sequence[Message], *, now: datetime) -> int:
    """Add messages to the outbox in the caller's transaction; one already there (same key) is
    left alone, so recording the same notification twice sends it once. Returns rows added."""
    rows = [
        {
            "key": m.key[:200],
            "kind": m.kind,
            "payload": m.payload,
            "webhook_id": m.webhook_id,
            "event_seq": m.event_seq,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        for m in messages
    ]
    return insert_ignoring(connection, t.outbox, rows, ["key"])


def claim(
    connection: Connection, *, worker: str, now: datetime, limit: int, lease: timedelta, kinds: Sequence[str]
) -> list[Row[Any]]:
    """Take up to ``limit`` rows of ``kinds`` due at ``now`` for ``worker`` until ``now + lease``
    (commit after)."""
    o = t.outbox
    due = (
        o.c.status.in_(DUE),
        o.c.kind.in_(kinds),
        o.c.next_attempt_at <= now,
        or_(o.c.claimed_until.is_(None), o.c.claimed_until < now),
    )
    chosen = select(o.c.id).where(*due).order_by(o.c.next_attempt_at, o.c.id).limit(limit)
    claimed = update(o).values(claimed_by=worker, claimed_until=now + lease).returning(*o.c)
    if connection.dialect.name == "postgresql":
        # Chosen once, in a CTE kept apart from the UPDATE: as an IN (subquery) the planner may
        # run it again per row, and each run skips other rows, claiming more than ``limit``.
        rows = chosen.with_for_update(skip_locked=True).cte("chosen").prefix_with("MATERIALIZED")
        statement = claimed.where(o.c.id == rows.c.id)
    else:
        statement = claimed.where(o.c.id.in_(chosen.scalar_subquery()), *due)
    return sorted(connection.execute(statement).all(), key=lambda r: (r.next_attempt_at, r.id))


@dataclass(frozen=True)
class Attempt:
    """How one try at delivering a row went."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: float = 0.0
    # The server could not be reached at all: the message is not at fault, so this try never
    # makes it dead (it waits, at most the longest wait, until the server is back).
    unreachable: bool = False


def backoff(attempts: int, *, base: timedelta, cap: timedelta, rng: random.Random | None = None) -> timedelta:
    """The wait before the next try after ``attempts`` failed ones: doubling from ``base`` up to
    ``cap``, each wait drawn between half and all of it (jitter, so that retries spread out)."""
    full = min(cap.total_seconds(), base.total_seconds() * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=full * (rng or random).uniform(0.5, 1.0))


_FINISH = (
    update(t.outbox)
    .where(t.outbox.c.id == bindparam("w_id"), t.outbox.c.claimed_by == bindparam("w_worker"))
    .values(
        status=bindparam("status"),
        attempts=bindparam("attempts"),
        claimed_by=None,
        claimed_until=None,
        sent_at=bindparam("sent_at"),
        last_error=bindparam("last_error"),
        next_attempt_at=bindparam("next_attempt_at"),
    )
)


@dataclass(frozen=True)
class Tried:
    """A claimed row, how its attempt went, how many tries it may have, and the wait if it failed."""

    row: Row[Any]
    attempt: Attempt
    max_attempts: int
    retry_in: timedelta


def finish(connection: Connection, tried: Sequence[Tried], *, worker: str, now: datetime) -> list[str]:
    """Log the attempts at claimed rows and set each row's status (sent, failed to retry, or dead)
    in two statements; returns the statuses."""
    if not tried:
        return []
    log, changes, statuses = [], [], []
    for item in tried:
        row, attempt = item.row, item.attempt
        attempts = row.attempts + 1
        log.append(
            {
                "outbox_id": row.id,
                "attempt": attempts,
                "at": now,
                "ok": attempt.ok,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "duration_ms": round(attempt.duration_ms, 1),
                "worker": worker,
            }
        )
        if attempt.ok:
            status, error, next_at, sent_at = "sent", None, row.next_attempt_at, now
        else:
            status = "dead" if attempts >= item.max_attempts and not attempt.unreachable else "failed"
            error = (attempt.error or f"HTTP {attempt.status_code}")[:2000]
            next_at, sent_at = now + item.retry_in, None
        statuses.append(status)
        changes.append(
            {
                "w_id": row.id,
                "w_worker": worker,
                "status": status,
                "attempts": attempts,
                "sent_at": sent_at,
                "last_error": error,
                "next_attempt_at": next_at,
            }
        )
    connection.execute(insert(t.delivery_attempts), log)
    connection.execute(_FINISH, changes)
    return statuses


def prune(connection: Connection, *, before: datetime) -> int:
    """Forget deliveries finished (sent or dead) and attempts made before ``before``, and the job
    runs of slots before it; returns the rows removed."""
    removed = connection.execute(t.delivery_attempts.delete().where(t.delivery_attempts.c.at < before)).rowcount
    finished = t.outbox.c.status.in_(("sent", "dead"))
    removed += connection.execute(t.outbox.delete().where(finished, t.outbox.c.created_at < before)).rowcount
    removed += connection.execute(t.job_runs.delete().where(t.job_runs.c.slot < before)).rowcount
    return int(removed)
