"""Benchmark: committed deal moves against a bare one-row insert, and in-process gate evaluation.

Run ``.venv/bin/python benchmarks/bench_moves.py [--db URL] [--deals 10000] [--moves 2000] [--quick]``.
Without ``--db`` it runs on a temporary SQLite file and on the PostgreSQL database ``dealflow_bench``
(created on ``postgresql://postgres@127.0.0.1:5432`` if missing). Every table in the target database
is dropped first. The three operations are measured interleaved, in blocks of 100, rotating the order.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from dealflow.domain import commands as cmds
from dealflow.domain.deals import Deal, evolve
from dealflow.domain.decisions import Actor, Decision, Refusal
from dealflow.domain.events import Event
from dealflow.domain.evidence import capture
from dealflow.domain.gates import exit_gate
from dealflow.domain.lifecycle import create_deal
from dealflow.process.loading import load_template
from dealflow.process.models import Process
from dealflow.services import deals as sd
from dealflow.services import workspace as ws
from dealflow.settings import Settings
from dealflow.store import queries
from dealflow.store import tables as t
from dealflow.store.engine import make_engine, upgrade
from dealflow.store.event_log import record_deal_events
from dealflow.store.unit_of_work import UnitOfWork

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/dealflow_bench"
USERS = (("sam", "sdr"), ("sofia", "sdr"), ("ava", "ae"), ("omar", "ae"), ("morgan", "manager"))
SDRS = ("sam", "sofia")
BLOCK, WARMUP, BATCH, TARGET = 100, 20, 500, 3.0
FROM, TO = "prospecting", "qualification"

baseline_metadata = MetaData()
baseline = Table(
    "bench_baseline",
    baseline_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deal_id", String(64), nullable=False),
    Column("at", t.Timestamp, nullable=False),
    Column("payload", t.Json, nullable=False),
)


def _events(decision: Decision) -> list[Event]:
    if isinstance(decision, Refusal):
        raise RuntimeError(f"setup refused: {decision.message}")
    return decision


def prepare_database(url: str, *, durable: bool = True) -> Engine:
    """An engine on ``url`` with every table dropped (the PostgreSQL database created if missing);
    ``durable=False`` for a workspace whose commits need not survive a power cut (see ``make_engine``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.database:
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            found = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
            if found.first() is None:
                connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    engine = make_engine(url, durable=durable)
    existing = MetaData()
    existing.reflect(engine)
    existing.drop_all(engine)
    return engine


def setup(engine: Engine, process: Process, source: str, deals: int, ready: int, t0: datetime) -> list[tuple[str, str]]:
    """Install the workspace and ``deals`` deals; ``ready`` of them, spread out, can leave prospecting.

    Events come from the pure domain rules and go in through ``record_deal_events``, BATCH deals per
    transaction. Returns (deal id, owner) of the ready deals."""
    upgrade(engine)
    baseline_metadata.create_all(engine)

    def clock() -> datetime:
        return t0

    with UnitOfWork(engine, clock=clock) as uow:
        ws.install_process(uow=uow, source=source, name="standard.yaml")
    for user_id, role in USERS:
        with UnitOfWork(engine, clock=clock) as uow:
            ws.add_user(uow=uow, user_id=user_id, name=user_id.capitalize(), roles=[role], team="east")
    actors = {user_id: Actor(id=user_id, roles=(role,), team="east") for user_id, role in USERS}
    ready_numbers = {i * deals // ready + 1 for i in range(ready)}
    evidence = (
        cmds.UpdateFields(fields={"source": "inbound"}),
        cmds.LogActivity(kind="call", summary="Intro call with the buyer"),
        cmds.SetNextStep(action="Qualification call", owner="", due=t0 + timedelta(days=30)),
    )
    chosen: list[tuple[str, str]] = []
    for start in range(1, deals + 1, BATCH):
        with UnitOfWork(engine, clock=clock) as uow:
            for number in range(start, min(start + BATCH, deals + 1)):
                actor = actors[SDRS[number % len(SDRS)]]
                command = cmds.CreateDeal(deal_id=f"D-{number}", title=f"Bench deal {number}", owner=actor.id)
                found = _events(create_deal(command, process=process, actor=actor, now=t0))
                if number in ready_numbers:
                    deal = evolve(None, found[0])
                    for item in evidence:
                        if isinstance(item, cmds.SetNextStep):
                            item = cmds.SetNextStep(action=item.action, owner=actor.id, due=item.due)
                        more = _events(capture(deal, item, process=process, actor=actor, now=t0))
                        for e in more:
                            deal = evolve(deal, e)
                        found += more
                    chosen.append((command.deal_id, actor.id))
                record_deal_events(uow, deal=None, found=found)
            uow.commit()
    return chosen


def timed(operation: Callable[[], object]) -> float:
    """Seconds one call of ``operation`` takes."""
    start = time.perf_counter()
    operation()
    return time.perf_counter() - start


def measure(
    engine: Engine, process: Process, ready: list[tuple[str, str]], loaded: list[Deal], moves: int
) -> dict[str, list[float]]:
    """Per-operation latencies (s) of gate evaluation, committed move and bare insert, interleaved."""
    now = datetime.now(UTC)
    queue = iter(ready)
    counter = iter(range(1, 10**9))
    payload = {"from": FROM, "to": TO, "kind": "forward", "reason": None, "override": False}

    def gate() -> None:
        deal = loaded[next(counter) % len(loaded)]
        if not exit_gate(deal, process, TO, now).passed:
            raise RuntimeError(f"gate unexpectedly refused {deal.id}")

    def move() -> None:
        deal_id, owner = next(queue)
        with UnitOfWork(engine) as uow:
            sd.move_deal(uow=uow, actor_id=owner, deal_id=deal_id, to=TO)

    def bare_insert() -> None:
        with engine.connect() as connection:
            row = {"deal_id": f"D-{next(counter)}", "at": datetime.now(UTC), "payload": payload}
            connection.execute(insert(baseline), row)
            connection.commit()

    operations = {"gate": gate, "move": move, "insert": bare_insert}
    for operation in operations.values():  # warm up pools, statement caches, the process cache
        for _ in range(WARMUP):
            operation()
    samples: dict[str, list[float]] = {name: [] for name in operations}
    names = list(operations)
    done, rounds = 0, 0
    while done < moves:
        size = min(BLOCK, moves - done)
        order = names[rounds % 3 :] + names[: rounds % 3]
        for name in order:
            samples[name].extend(timed(operations[name]) for _ in range(size))
        done, rounds = done + size, rounds + 1
    return samples


def summarize(samples: Sequence[float]) -> tuple[float, float, float, float]:
    """(ops/s, mean ms, median ms, p95 ms)."""
    mean = statistics.fmean(samples)
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
    return 1 / mean, mean * 1000, statistics.median(samples) * 1000, p95 * 1000


def report(title: str, samples: dict[str, list[float]]) -> None:
    labels = {
        "gate": "gate evaluation (in-process)",
        "move": "move_deal (committed)",
        "insert": "bare insert (committed)",
    }
    print(f"\n{title}")
    print(f"| {'operation':<30} | {'ops/s':>10} | {'mean ms':>9} | {'median ms':>9} | {'p95 ms':>9} |")
    print(f"|{'-' * 32}|{'-' * 11}:|{'-' * 10}:|{'-' * 10}:|{'-' * 10}:|")
    stats = {name: summarize(values) for name, values in samples.items()}
    for name, (rate, mean, median, p95) in stats.items():
        print(f"| {labels[name]:<30} | {rate:>10,.0f} | {mean:>9.3f} | {median:>9.3f} | {p95:>9.3f} |")
    by_mean = stats["move"][1] / stats["insert"][1]
    by_median = stats["move"][2] / stats["insert"][2]
    verdict = "MET" if by_mean <= TARGET else "NOT MET"
    print(f"\nmove / bare insert cost: {by_mean:.2f}x (means), {by_median:.2f}x (medians)")
    print(f"target move cost <= {TARGET:.1f}x bare insert (means): {verdict}")


def run(url: str, deals: int, moves: int) -> None:
    backend = make_url(url).get_backend_name()
    print(f"\n=== {backend}: {make_url(url).render_as_string(hide_password=True)} ===")
    try:
        engine = prepare_database(url)
    except OperationalError as exc:
        print(f"skipped: cannot reach the database ({str(exc.orig).strip().splitlines()[0]})")
        return
    process, source = load_template("standard")
    t0 = datetime.now(UTC) - timedelta(hours=1)
    start = time.perf_counter()
    ready = setup(engine, process, source, deals, moves + WARMUP, t0)
    with engine.connect() as connection:
        loaded = [deal for deal_id, _ in ready if (deal := queries.get_deal(connection, deal_id=deal_id))]
    print(f"setup: {deals:,} deals ({len(ready):,} ready to leave {FROM}) in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    samples = measure(engine, process, ready, loaded, moves)
    elapsed = time.perf_counter() - start
    with engine.connect() as connection:
        moved = connection.execute(select(func.count()).select_from(t.deals).where(t.deals.c.stage == TO)).scalar()
        rows = connection.execute(select(func.count()).select_from(baseline)).scalar()
    print(f"timed {moves:,} of each operation in {elapsed:.1f} s; {moved:,} deals in {TO}; {rows:,} baseline rows")
    report(f"{backend}, {deals:,} deals, {moves:,} moves (blocks of {BLOCK}, interleaved)", samples)
    engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", metavar="URL", help="database URL (repeatable; all tables dropped)")
    parser.add_argument("--deals", type=int, default=10_000, help="deals to load (default 10000)")
    parser.add_argument("--moves", type=int, default=2_000, help="moves (and of each other operation) to time")
    parser.add_argument("--quick", action="store_true", help="smoke run: 500 deals, 200 moves")
    args = parser.parse_args(argv)
    deals, moves = (500, 200) if args.quick else (args.deals, args.moves)
    if moves < 2 or moves + WARMUP > deals:
        parser.error(f"need 2 <= --moves and --moves + {WARMUP} <= --deals")
    with tempfile.TemporaryDirectory(prefix="dealflow-bench-") as folder:
        urls = args.db or [f"sqlite:///{Path(folder) / 'bench.db'}", POSTGRES_URL]
        for url in urls:
            run(Settings(database_url=url).database_url, deals, moves)
    return 0


if __name__ == "__main__":
    sys.exit(main())
