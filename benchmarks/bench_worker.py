"""Benchmark: one full pass of ``dealflow worker`` over a large workspace, nothing due and some due,
against a bare insert of as many rows measured in the same run.

Run ``.venv/bin/python benchmarks/bench_worker.py [--db URL] [--size 100000] [--quick]``. Without
``--db`` it runs on a temporary SQLite file and on the PostgreSQL database ``dealflow_bench``
(created on ``postgresql://postgres@127.0.0.1:5432`` if missing). Every table in the target
database is dropped first.

The workspace: ``--size`` open deals (through the import path, one bulk write per table) spread
over the process's stages, each with a next step, 1 in 20 with a pending handoff, and ``--size``
open leads, owned by 60 reps with email addresses in 6 teams with a manager each. Pass one has
nothing due (every stay, handoff and next step within its time); pass two comes after a few of
them fell due (``--due`` deals past their stage's SLA, a tenth as many handoffs, as many next steps
due today), so it records the breaches, queues their emails and the daily digests, and delivers
them all to a local SMTP server (aiosmtpd) in the same pass.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from dealflow.process.loading import load_template
from dealflow.services import workspace as ws
from dealflow.settings import Settings
from dealflow.store import bulk
from dealflow.store import tables as t
from dealflow.store.engine import upgrade
from dealflow.store.event_log import record_new_deals
from dealflow.store.new_deals import NewDeal
from dealflow.store.unit_of_work import UnitOfWork
from dealflow.worker import delivery
from dealflow.worker.scheduler import JobResult, Worker

sys.path.insert(0, str(Path(__file__).parent))
from bench_moves import prepare_database

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/dealflow_bench"
NOW = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
TEAMS = ("east", "west", "north", "south", "central", "emea")
REPS = tuple(f"rep{i:02d}" for i in range(60))
BATCH = 10_000
TARGET = 5.0  # seconds for one pass

baseline_metadata = MetaData()
baseline = Table(
    "bench_baseline",
    baseline_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("owner", String(64), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


def seed(engine: Engine, size: int) -> None:
    """The workspace: process, team, ``size`` open deals with next steps and some handoffs, ``size`` leads."""
    upgrade(engine)
    baseline_metadata.create_all(engine)
    process, source = load_template("standard")
    start = NOW - timedelta(days=400)
    with UnitOfWork(engine, clock=lambda: start) as uow:
        ws.install_process(uow=uow, source=source, name="standard.yaml")
    people = [(f"mgr-{team}", ["manager"], team) for team in TEAMS]
    people += [(rep, ["ae", "sdr"], TEAMS[i % len(TEAMS)]) for i, rep in enumerate(REPS)]
    for user_id, roles, team in people:
        with UnitOfWork(engine, clock=lambda: start) as uow:
            ws.add_user(uow=uow, user_id=user_id, name=user_id, roles=roles, team=team, email=f"{user_id}@example.com")
    stages = [s for s in process.sales_stages if s.sla is not None]
    for first in range(1, size + 1, BATCH):
        numbers = range(first, min(first + BATCH, size + 1))
        deals, steps, handoffs, leads = [], [], [], []
        for n in numbers:
            stage, owner = stages[n % len(stages)], REPS[n % len(REPS)]
            assert stage.sla is not None
            entered = NOW - stage.sla * 0.5 - timedelta(minutes=n % 600)  # half-way through its stay
            title = f"Deal {n}"
            data = {"title": title, "process": process.key, "process_version": process.version,
                    "account_id": None, "owner": owner, "stage": stage.key, "fields": {"title": title}}  # fmt: skip
            deals.append(NewDeal(f"deal:D-{n}", owner, [("DealCreated", entered, data)]))
            due = NOW + timedelta(days=3, minutes=n % 1440)
            steps.append((f"D-{n}", "Call back", owner, due, True, entered, owner))
            if n % 20 == 0:
                handoffs.append((f"D-{n}-H2", f"D-{n}", owner, REPS[(n + 1) % len(REPS)], stage.key, stage.key,
                                 "{}", 1.0, entered, NOW + timedelta(days=3), "pending"))  # fmt: skip
            leads.append((f"L-{n}", n, f"Lead {n}", "Acme", f"lead{n}@example.com", "web", owner, "open", entered))
        with UnitOfWork(engine) as uow:
            record_new_deals(uow, deals)
            storage = bulk.storage(uow.connection)
            connection = uow.connection
            bulk.write_rows(connection, t.next_steps, ("deal_id", "action", "owner", "due", "buyer_confirmed",
                            "set_at", "set_by"), [(*r[:3], storage.stamp(r[3]), r[4], storage.stamp(r[5]), r[6])
                                                  for r in steps])  # fmt: skip
            bulk.write_rows(connection, t.handoffs, ("id", "deal_id", "from_owner", "to_owner", "from_stage",
                            "to_stage", "context", "completeness", "created_at", "due_at", "status"),
                            [(*r[:8], storage.stamp(r[8]), storage.stamp(r[9]), r[10]) for r in handoffs])  # fmt: skip
            bulk.write_rows(connection, t.leads, ("id", "number", "name", "company", "email", "source", "owner",
                            "status", "created_at"), [(*r[:8], storage.stamp(r[8])) for r in leads])  # fmt: skip
            uow.commit()
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def fall_due(engine: Engine, due: int) -> None:
    """Make ``due`` deals overstay their stage, a tenth as many handoffs late and ``due`` next steps
    due today (spread over the workspace, as time passing would)."""
    with engine.begin() as connection:
        d, h, n = t.deals, t.handoffs, t.next_steps
        ids = connection.execute(select(d.c.id).order_by(d.c.number).limit(due)).scalars().all()
        connection.execute(d.update().where(d.c.id.in_(ids)).values(stage_entered_at=NOW - timedelta(days=60)))
        late = connection.execute(select(h.c.id).order_by(h.c.id).limit(max(due // 10, 1))).scalars().all()
        connection.execute(h.update().where(h.c.id.in_(late)).values(due_at=NOW - timedelta(hours=1)))
        steps = connection.execute(select(n.c.deal_id).order_by(n.c.deal_id.desc()).limit(due)).scalars().all()
        connection.execute(n.update().where(n.c.deal_id.in_(steps)).values(due=NOW + timedelta(hours=2)))


def bare_insert(engine: Engine, rows: int) -> float:
    """Seconds to insert and commit ``rows`` plain rows in one statement, the baseline."""
    values = [{"id": i, "owner": REPS[i % 60], "stage": "discovery", "at": NOW} for i in range(rows)]
    with engine.begin() as connection:
        connection.execute(baseline.delete())
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(baseline.insert(), values)
    return time.perf_counter() - started


class _Count:
    def __init__(self, received: Synchronized[int]) -> None:
        self.received = received

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        with self.received.get_lock():
            self.received.value += 1
        return "250 OK"


def _serve_smtp(port: int, received: Synchronized[int], stop: EventType) -> None:
    """A local SMTP server (in its own process, as a real one would be) that counts what it gets."""
    controller = Controller(_Count(received), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


def timed_pass(worker: Worker, now: datetime) -> tuple[float, list[JobResult]]:
    started = time.perf_counter()
    results = worker.run_pass(now)
    return time.perf_counter() - started, results


def report(label: str, seconds: float, results: list[JobResult], baseline_seconds: float) -> None:
    jobs = ", ".join(f"{r.name} {r.done} in {r.seconds:.3f}s" for r in results)
    verdict = "MET" if seconds < TARGET else "NOT MET"
    print(f"| {label:<22} | {seconds:>8.3f} | {seconds / baseline_seconds:>7.2f}x | {verdict:<7} | {jobs} |")


def run(url: str, size: int, due: int) -> None:
    backend = make_url(url).get_backend_name()
    print(f"\n=== {backend}: {make_url(url).render_as_string(hide_password=True)} ===")
    try:
        engine = prepare_database(url, durable=False)
    except OperationalError as exc:
        print(f"skipped: cannot reach the database ({str(exc.orig).strip().splitlines()[0]})")
        return
    started = time.perf_counter()
    seed(engine, size)
    with engine.connect() as connection:
        counts = {name: connection.execute(select(func.count()).select_from(table)).scalar()
                  for name, table in (("deals", t.deals), ("leads", t.leads), ("next steps", t.next_steps),
                                      ("handoffs", t.handoffs))}  # fmt: skip
    print(f"seeded in {time.perf_counter() - started:.1f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    received: Synchronized[int] = multiprocessing.Value("i", 0)  # type: ignore[assignment]
    stop = multiprocessing.Event()
    port = _free_port()
    smtp = multiprocessing.Process(target=_serve_smtp, args=(port, received, stop), daemon=True)
    smtp.start()
    _wait_for(port)
    try:
        delivery.configure(engine, Settings(smtp_host="127.0.0.1", smtp_port=port))
        worker = Worker(engine)
        baseline_seconds = bare_insert(engine, size)
        print(f"baseline: bare insert of {size:,} rows in {baseline_seconds:.3f} s")
        print(f"\n| {'pass':<22} | {'seconds':>8} | {'/ bare':>8} | {'< 5 s':<7} | jobs |")
        print(f"|{'-' * 24}|{'-' * 9}:|{'-' * 9}:|{'-' * 9}|------|")
        seconds, results = timed_pass(worker, NOW)
        assert sum(r.done for r in results) == 0, results
        report("nothing due", seconds, results, baseline_seconds)
        seconds, results = timed_pass(worker, NOW + timedelta(minutes=5))  # the next slots, still nothing
        report("nothing due, again", seconds, results, baseline_seconds)
        fall_due(engine, due)
        seconds, results = timed_pass(worker, NOW + timedelta(days=1, minutes=10))
        report(f"{due:,} due", seconds, results, baseline_seconds)
    finally:
        stop.set()
        smtp.join(timeout=30)
    with engine.connect() as connection:
        outbox = dict(connection.execute(select(t.outbox.c.status, func.count()).group_by(t.outbox.c.status)).all())
    print(f"\noutbox after: {outbox}; emails the SMTP server received: {received.value:,}")
    engine.dispose()


def _wait_for(port: int) -> None:
    """Wait until the SMTP server listens (at most 30 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the SMTP server did not start on port {port}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", metavar="URL", help="database URL (repeatable; all tables dropped)")
    parser.add_argument("--size", type=int, default=100_000, help="open deals, and open leads (default 100000)")
    parser.add_argument("--due", type=int, default=500, help="deals and next steps that fall due (default 500)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 600 deals, 30 due")
    args = parser.parse_args(argv)
    size, due = (600, 30) if args.quick else (args.size, args.due)
    if not 1 <= due <= size:
        parser.error("need 1 <= --due <= --size")
    with tempfile.TemporaryDirectory(prefix="dealflow-bench-") as folder:
        urls = args.db or [f"sqlite:///{Path(folder) / 'bench.db'}", POSTGRES_URL]
        for url in urls:
            run(Settings(database_url=url).database_url, size, due)
    return 0


if __name__ == "__main__":
    sys.exit(main())
