"""Benchmark: counting overdue touches and "what is due" over many open cadences, against a full scan.

Run ``.venv/bin/python benchmarks/bench_cadence_due.py [--subjects 100000] [--db URL] [--repeat 7]``.

The database (default: a new SQLite file in a temporary directory) is migrated and its
``cadence_tasks`` emptied, then filled with ``--subjects`` running cadences of six touches each,
owned by 500 reps: the next touch of each is due in the days ahead, so none is overdue (the
daily case most). Timed, interleaved, ``--repeat`` times after one
warm-up round, medians reported:

- ``overdue``: :func:`dealflow.services.cadences.overdue_touches`, the touches whose day has gone by
  (worked out from their due day; nothing stores it);
- ``due_tasks``: one rep's touches due today (:func:`dealflow.store.cadence_tasks.due_tasks`);
- baseline: ``SELECT count(*) FROM cadence_tasks``, a full scan of the table.

Then 1% of the next touches are made a day late and counted (timed once). The target is a count
with nothing overdue well under a full scan; the script prints the times, the ratios to the full
scan, and whether the target was met; it always exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, func, select, text, update

from dealflow.services.cadences import overdue_touches
from dealflow.store import cadence_tasks as tasks
from dealflow.store import tables as t
from dealflow.store.engine import make_engine, upgrade

OWNERS = 500
STEPS = (0, 1, 3, 6, 10, 14)
NOW = datetime(2026, 6, 1, 8, tzinfo=UTC)


def fill(engine: Engine, subjects: int) -> None:
    """``subjects`` running cadences, the next touch of each due in the next days."""
    today = NOW.date()
    with engine.begin() as connection:
        connection.execute(delete(t.cadence_tasks))
    batch: list[dict[str, object]] = []
    for n in range(subjects):
        started = today - timedelta(days=n % 3)
        for step, day in enumerate(STEPS, start=1):
            due = started + timedelta(days=day + 2)
            batch.append({
                "run": n + 1, "step": step, "subject": f"lead:L-{n + 1}", "kind": "lead", "cadence": "bench",
                "channel": "email", "template": "", "due_on": due, "owner": f"rep{n % OWNERS}",
                "status": "open" if step == 1 else "planned",
            })  # fmt: skip
        if len(batch) >= 30_000:
            with engine.begin() as connection:
                connection.execute(t.cadence_tasks.insert(), batch)
            batch = []
    if batch:
        with engine.begin() as connection:
            connection.execute(t.cadence_tasks.insert(), batch)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    """Fill, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--db", default=None)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'cadence_bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    fill(engine, args.subjects)
    print(f"{engine.dialect.name}: {args.subjects:,} running cadences, {args.subjects * len(STEPS):,} touches "
          f"(filled in {time.perf_counter() - started:.1f} s)")  # fmt: skip

    def scan() -> object:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(t.cadence_tasks)).scalar()

    def due() -> object:
        with engine.connect() as connection:
            return tasks.due_tasks(connection, owner="rep7", today=NOW.date())

    runs: dict[str, list[float]] = {"overdue": [], "due_tasks": [], "full scan": []}
    actions: dict[str, Callable[[], object]] = {
        "overdue": lambda: overdue_touches(engine, NOW), "due_tasks": due, "full scan": scan,
    }  # fmt: skip
    for round_ in range(args.repeat + 1):
        for name, action in actions.items():
            elapsed = _timed(action)
            if round_:
                runs[name].append(elapsed)
    base = statistics.median(runs["full scan"])
    for name, found in runs.items():
        median = statistics.median(found)
        print(f"{name:>10}: {median * 1000:8.2f} ms median  ({median / base:.3f} x a full scan)")
    assert overdue_touches(engine, NOW) == 0
    late = NOW.date() - timedelta(days=1)
    with engine.begin() as connection:
        chosen = t.cadence_tasks.c.run % 100 == 0
        connection.execute(update(t.cadence_tasks).where(chosen, t.cadence_tasks.c.step == 1).values(due_on=late))
    marked: list[int] = []
    elapsed = _timed(lambda: marked.append(overdue_touches(engine, NOW)))
    print(f"counting {marked[0]:,} overdue touches: {elapsed * 1000:.1f} ms")
    ratio = statistics.median(runs["overdue"]) / base
    print(f"target: counting with nothing overdue under 0.5 x a full scan: {'met' if ratio < 0.5 else 'NOT met'} "
          f"({ratio:.3f} x)")  # fmt: skip


if __name__ == "__main__":
    main()
